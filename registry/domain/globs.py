"""Name globs (``fraud-*``, ``team?-model``) used by filters, role bindings and webhooks.

Only ``*`` (any run of characters) and ``?`` (one character) are special, matched case-
sensitively, so the Python matcher and the SQL ``LIKE`` translation always agree.
"""

from __future__ import annotations

import functools
import re

from registry.domain.errors import InvalidArgument

MAX_GLOB = 256


def validate(pattern: object, field: str = "pattern") -> str:
    if not isinstance(pattern, str) or not pattern or len(pattern) > MAX_GLOB:
        raise InvalidArgument(
            f"{field} must be a name glob of 1 to {MAX_GLOB} characters.", field=field
        )
    if any(ord(c) < 32 for c in pattern):
        raise InvalidArgument(f"{field} contains a control character.", field=field)
    return pattern


@functools.lru_cache(maxsize=4096)
def _compiled(pattern: str) -> re.Pattern[str]:
    parts = (".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile("".join(parts), re.DOTALL)


def matches(pattern: str, name: str) -> bool:
    return _compiled(pattern).fullmatch(name) is not None


def to_like(pattern: str, escape: str = "\\") -> str:
    """The SQL LIKE pattern (with ``escape`` as its escape character) equivalent to the glob."""
    out = []
    for c in pattern:
        if c == "*":
            out.append("%")
        elif c == "?":
            out.append("_")
        elif c in ("%", "_", escape):
            out.append(escape + c)
        else:
            out.append(c)
    return "".join(out)


def may_overlap(a: str, b: str) -> bool:
    """Whether some name matches both globs (so a policy for each could claim it)."""

    @functools.cache
    def meet(i: int, j: int) -> bool:
        if i == len(a) and j == len(b):
            return True
        if i < len(a) and a[i] == "*":
            return meet(i + 1, j) or (j < len(b) and meet(i, j + 1))
        if j < len(b) and b[j] == "*":
            return meet(i, j + 1) or (i < len(a) and meet(i + 1, j))
        if i < len(a) and j < len(b):
            return (a[i] == b[j] or "?" in (a[i], b[j])) and meet(i + 1, j + 1)
        return False

    return meet(0, 0)


def specificity(pattern: str) -> tuple[int, int]:
    """Orders globs from most to least specific: exact names first, then by literal length.

    Used wherever "most specific wins" (policies) so the rule is stated once.
    """
    literal = sum(1 for c in pattern if c not in "*?")
    return (0 if ("*" in pattern or "?" in pattern) else 1, literal)
