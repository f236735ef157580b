"""How a variable's text becomes a setting's value: one parser per kind of setting.

Each takes the raw text of a ``MODELGATE_*`` variable and returns the value, or raises
ValueError saying what it expected; :func:`registry.config.setting` adds the variable's name.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable


def boolean(raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"expected true or false, got {raw!r}")


def integer(raw: str) -> int:
    return int(raw.strip())


def number(raw: str) -> float:
    return float(raw.strip())


def text(raw: str) -> str:
    return raw


def seconds_list(raw: str) -> tuple[float, ...]:
    values = tuple(float(item) for item in raw.split(",") if item.strip())
    if not values or any(v < 0 for v in values):
        raise ValueError(f"expected comma-separated non-negative seconds, got {raw!r}")
    return values


def rate_limit(raw: str) -> str:
    from limits import parse_many

    if raw.strip():
        parse_many(raw)  # raises ValueError naming what it could not read
    return raw.strip()


def comma_list(raw: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in raw.split(",") if item.strip())


def choice(*allowed: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.strip().lower()
        if value not in allowed:
            raise ValueError(f"expected one of {', '.join(allowed)}, got {raw!r}")
        return value

    return parse


def lifetime(raw: str) -> dt.timedelta | None:
    """A duration such as 24h or 7d, or ``never``."""
    from registry.domain.policy import parse_duration

    if raw.strip().lower() == "never":
        return None
    return parse_duration(raw)


def non_negative_int(raw: str) -> int:
    value = integer(raw)
    if value < 0:
        raise ValueError(f"expected a whole number of at least 0, got {raw!r}")
    return value


def positive_int(raw: str) -> int:
    value = integer(raw)
    if value < 1:
        raise ValueError(f"expected a whole number of at least 1, got {raw!r}")
    return value
