"""What a well-formed name, tag, alias, description or source is, and the limits on each.

Text is normalised to Unicode NFC before it is stored or compared, so the same name typed on
two keyboards is one name on SQLite and PostgreSQL alike. Model names are case-preserving but
unique without regard to case (``name_key``). Control and format characters (including NUL,
which PostgreSQL cannot store, and the bidirectional overrides used to disguise text) are
refused everywhere except ordinary line breaks and tabs in free text.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable, Mapping
from typing import Any

from registry.domain.errors import InvalidArgument, NotFound

MAX_NAME = 256
MAX_TAG_KEY = 250
MAX_TAG_VALUE = 5000
MAX_TAGS = 100
MAX_ALIAS = 255
MAX_DESCRIPTION = 65535
MAX_SOURCE = 4096
MAX_RUN_ID = 256
MAX_RUN_LINK = 4096
MAX_COMMENT = 65535
# No JSON document of ours nests deeper than four levels (MLflow's tag lists); this leaves
# room and stops well short of Python's recursion limit.
MAX_JSON_DEPTH = 32

# Characters that would make a name ambiguous in a URI (models:/name@alias, models:/name/3)
# or in a glob pattern (role bindings and webhook filters use * and ?).
_NAME_FORBIDDEN = set("/\\:@*?")
_TAG_KEY = re.compile(r"^[\w.\- /:]+$")
_ALIAS = re.compile(r"^[\w-]+$")
_RESERVED_ALIAS = re.compile(r"^(latest|v\d+)$", re.IGNORECASE)
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")
_FREE_TEXT_ALLOWED = {"\n", "\r", "\t"}


def _nfc(value: object, field: str) -> str:
    if not isinstance(value, str):
        raise InvalidArgument(f"{field} must be a string.", field=field)
    return unicodedata.normalize("NFC", value)


def _refuse_control(value: str, field: str, *, allow_line_breaks: bool = False) -> None:
    for ch in value:
        if unicodedata.category(ch)[0] == "C" or ch in "\u2028\u2029":
            if allow_line_breaks and ch in _FREE_TEXT_ALLOWED:
                continue
            raise InvalidArgument(
                f"{field} contains a control or format character (U+{ord(ch):04X}).",
                field=field,
            )


def _length(value: str, field: str, maximum: int, minimum: int = 1) -> None:
    if len(value) < minimum:
        raise InvalidArgument(f"{field} must not be empty.", field=field)
    if len(value) > maximum:
        raise InvalidArgument(
            f"{field} is {len(value)} characters long; the limit is {maximum}.", field=field
        )


def model_name(value: object, field: str = "name") -> str:
    name = _nfc(value, field)
    _length(name, field, MAX_NAME)
    _refuse_control(name, field)
    if name != name.strip():
        raise InvalidArgument(f"{field} must not start or end with whitespace.", field=field)
    bad = sorted(_NAME_FORBIDDEN.intersection(name))
    if bad:
        raise InvalidArgument(
            f"{field} must not contain {' '.join(repr(c) for c in bad)}.", field=field
        )
    if name in {".", ".."}:
        raise InvalidArgument(f"{field} must not be {name!r}.", field=field)
    return name


def name_key(name: str) -> str:
    """The form two names are compared in for uniqueness: compatibility-normalised, case-folded."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name).casefold())


def tag_key(value: object, field: str = "key") -> str:
    key = _nfc(value, field)
    _length(key, field, MAX_TAG_KEY)
    if not _TAG_KEY.match(key) or key != key.strip():
        raise InvalidArgument(
            f"{field} {key!r} may hold letters, digits, '_', '-', '.', '/', ':' and inner spaces.",
            field=field,
        )
    return key


def tag_value(value: object, field: str = "value") -> str:
    text = _nfc(value, field)
    _length(text, field, MAX_TAG_VALUE, minimum=0)
    _refuse_control(text, field, allow_line_breaks=True)
    return text


def tags(value: object, field: str = "tags") -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise InvalidArgument(f"{field} must be an object of string values.", field=field)
    if len(value) > MAX_TAGS:
        raise InvalidArgument(f"At most {MAX_TAGS} tags are allowed.", field=field)
    return {tag_key(k, f"{field}.key"): tag_value(v, f"{field}.{k}") for k, v in value.items()}


def alias(value: object, field: str = "alias") -> str:
    name = _nfc(value, field)
    _length(name, field, MAX_ALIAS)
    if not _ALIAS.match(name):
        raise InvalidArgument(
            f"{field} {name!r} may hold only letters, digits, '_' and '-'.", field=field
        )
    if _RESERVED_ALIAS.match(name):
        raise InvalidArgument(
            f"{field} {name!r} is reserved: 'latest' and 'v<digits>' name versions already.",
            field=field,
        )
    return name


def description(value: object, field: str = "description") -> str | None:
    if value is None:
        return None
    text = _nfc(value, field)
    _length(text, field, MAX_DESCRIPTION, minimum=0)
    _refuse_control(text, field, allow_line_breaks=True)
    return text


def comment(value: object, field: str = "comment") -> str | None:
    if value is None:
        return None
    text = _nfc(value, field)
    _length(text, field, MAX_COMMENT, minimum=0)
    _refuse_control(text, field, allow_line_breaks=True)
    return text or None


def source(value: object, field: str = "source") -> str:
    """A URI with a scheme (s3://, runs:/, mlflow-artifacts:, file://...) or an absolute path.

    The registry never reads a source; it only refuses what could not be one, and what would
    climb out of a directory (``..`` segments).
    """
    text = _nfc(value, field)
    _length(text, field, MAX_SOURCE)
    _refuse_control(text, field)
    if not (text.startswith("/") or _SCHEME.match(text)):
        raise InvalidArgument(
            f"{field} must be a URI with a scheme (s3://..., runs:/...) or an absolute path.",
            field=field,
        )
    path = text.split("?", 1)[0].split("#", 1)[0]
    if ".." in re.split(r"[/\\]", path):
        raise InvalidArgument(f"{field} must not contain '..' segments.", field=field)
    return text


def source_scheme(source_uri: str) -> str:
    """``s3`` for ``s3://b/k``, ``file`` for a bare absolute path."""
    match = _SCHEME.match(source_uri)
    return match.group(0)[:-1].lower() if match else "file"


def optional_text(value: object, field: str, maximum: int) -> str | None:
    if value is None or value == "":
        return None
    text = _nfc(value, field)
    _length(text, field, maximum)
    _refuse_control(text, field)
    return text


def version_number(value: object, field: str = "version") -> int:
    """Accept 3 or "3" (the MLflow layer sends strings); refuse anything else."""
    if isinstance(value, bool):
        raise InvalidArgument(f"{field} must be a positive integer.", field=field)
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and value.isascii() and value.isdigit():
        number = int(value)
    else:
        raise InvalidArgument(f"{field} must be a positive integer, got {value!r}.", field=field)
    if not 1 <= number <= 2**31 - 1:
        raise InvalidArgument(f"{field} must be a positive integer, got {value!r}.", field=field)
    return number


MAX_ROW_ID = 2**63 - 1


def row_id(value: object, missing: str) -> int:
    """An id from a URL or body; one no database row can have is NotFound, not a crash."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ROW_ID:
        raise NotFound(missing)
    return value


def json_document(
    raw: str | bytes, load: Callable[[Any], Any] = json.loads, *, what: str = "The document"
) -> Any:
    """JSON decoded by ``load``, refused (InvalidArgument) when it nests deeper than
    MAX_JSON_DEPTH. Decoders recurse once per level, so ``[[[[...`` 100,000 deep exhausts
    the stack (a RecursionError, not a ValueError), and a value just under the interpreter's
    limit would do the same in whatever walks it next. Malformed JSON raises what ``load``
    raises."""
    try:
        value = load(raw)
    except RecursionError:
        raise _too_deep(what) from None
    level = [value]
    for _ in range(MAX_JSON_DEPTH):
        level = [
            child
            for item in level
            if isinstance(item, dict | list)
            for child in (item.values() if isinstance(item, dict) else item)
        ]
        if not level:
            return value
    raise _too_deep(what)


def _too_deep(what: str) -> InvalidArgument:
    return InvalidArgument(
        f"{what} is nested more than {MAX_JSON_DEPTH} levels deep.", max_depth=MAX_JSON_DEPTH
    )
