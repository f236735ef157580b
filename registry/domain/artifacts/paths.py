"""Places in the store: ``mlflow-artifacts:/<model name>/<path>`` parsed and checked, and the
store's own directories (which no model name can collide with)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import sqlalchemy as sa

from registry.domain import validation
from registry.domain.errors import InvalidArgument, NotFound
from registry.domain.locking import lookup_name
from registry.orm.artifact import MAX_PATH

SCHEME = "mlflow-artifacts"


# Directories of the store's own. Model names may not contain '@', so none of these can be
# the directory an earlier release kept a model's files in.
BLOBS = "@blobs"


INCOMING = "@incoming"


ORPHANED = "@orphaned"


@dataclass(frozen=True, slots=True)
class Entry:
    name: str
    is_dir: bool
    size: int | None


@dataclass(frozen=True, slots=True)
class Location:
    """A place in the store: a model's name and a path inside its namespace."""

    model: str
    path: str

    @property
    def uri(self) -> str:
        return source_uri(self.model, self.path)


def _segments(path: str) -> list[str]:
    if not isinstance(path, str) or path.startswith("/") or "\\" in path:
        raise InvalidArgument(
            "An artifact path is relative, '/'-separated: <model name>/<path>.", field="path"
        )
    # NFC, as names are: the same file name typed on two systems is one path.
    path = validation.optional_text(path, "path", validation.MAX_SOURCE) or ""
    segments = path.split("/")
    if any(s in ("", ".", "..") for s in segments):
        raise InvalidArgument(
            f"Artifact path {path!r} has an empty, '.' or '..' segment.", field="path"
        )
    return segments


def parse_path(path: str, *, file: bool = False) -> Location:
    """``<model name>/<path>`` as the mlflow-artifacts endpoints receive it. With ``file``,
    a path inside the model is required."""
    segments = _segments(path)
    if file and len(segments) < 2:
        raise InvalidArgument(
            f"Artifact path {path!r} names no file: <model name>/<file path>.", field="path"
        )
    inner = "/".join(segments[1:])
    if len(inner) > MAX_PATH:
        raise InvalidArgument(
            f"Artifact paths inside a model are at most {MAX_PATH} characters.", field="path"
        )
    return Location(lookup_name(segments[0]), inner)


def store_location(source: str) -> Location | None:
    """The place in a store a version's ``source`` points at, or None when it names none.

    The client resolves ``mlflow-artifacts:/<name>/<path>`` (or ``:///``) against its
    tracking URI: Modelgate's store for teams that keep files here, an MLflow tracking server
    for others (``mlflow-artifacts:/<experiment>/<run>/artifacts``). A source naming a host
    (``mlflow-artifacts://host/...``) is fetched from that host. The path is percent-decoded
    as the server decodes the URL the client builds from it.
    """
    try:
        parts = urlsplit(source)
    except ValueError:  # "mlflow-artifacts://[": nothing a client could fetch from us
        return None
    if parts.scheme.lower() != SCHEME or parts.netloc:
        return None
    first, _, rest = unquote(parts.path).strip("/").partition("/")
    try:
        name = validation.model_name(first)
    except InvalidArgument:  # no model could ever hold it: not a place in our store
        return None
    return Location(name, rest)


def own_location(source: str, location: Location) -> Location:
    parts = urlsplit(source)
    try:
        if parts.query or parts.fragment:
            raise InvalidArgument("no query or fragment")
        return parse_path(f"{location.model}/{location.path}", file=True)
    except (InvalidArgument, NotFound):
        raise InvalidArgument(
            f"Source {source!r} must name files under the model in Modelgate's store: "
            f"{source_uri(location.model, '<path>')}, a '/'-separated path without empty, "
            "'.' or '..' segments.",
            field="source",
        ) from None


def source_uri(model: str, path: str) -> str:
    """The canonical source for a place in the store; '%' is escaped so that decoding it
    (as the server decodes the client's URL) gives the name back."""
    return f"{SCHEME}:/{model.replace('%', '%25')}/{path.replace('%', '%25')}"


def resource_name(path: str, base: str) -> str:
    """A file's name in a manifest of ``base``: relative to it, ``.`` for ``base`` itself."""
    return "." if path == base else path[len(base) + 1 :]


def under(column: Any, base: str) -> Any:
    """``column`` is ``base`` or a path below it. substr, not LIKE: SQLite's LIKE ignores
    case unless told otherwise, and '_' and '%' would need escaping."""
    prefix = base + "/"
    return sa.or_(column == base, sa.func.substr(column, 1, len(prefix)) == prefix)
