"""Reading an MLflow request's fields, wherever the client put them.

GET requests carry their fields in the query string (lists as repeated keys); POST, PATCH and
DELETE carry a JSON object body (DELETE too: ``{"name": "m", "key": "k"}``). Databricks'
transition-request cancel sends DELETE with query parameters, so DELETE falls back to them.
Unknown fields are ignored, as MLflow's own server does: newer clients send fields older
servers do not know (``model_id``, ``deployment_job_id``...).
"""

from __future__ import annotations

from typing import Any

from flask import request

from registry.api.http import parse_body
from registry.domain.errors import InvalidArgument


class Fields:
    """The fields of the current request, read with MLflow's types and messages."""

    def __init__(self) -> None:
        self._body: dict[str, Any] = {}
        if request.method != "GET":
            raw = request.get_data(cache=True)
            if raw.strip():
                try:
                    body = parse_body(raw)
                except (ValueError, UnicodeDecodeError):
                    raise InvalidArgument("The request body is not valid JSON.") from None
                if not isinstance(body, dict):
                    raise InvalidArgument("The request body must be a JSON object.")
                self._body = body
        self._query = request.args if request.method in ("GET", "DELETE") else None

    def _raw(self, name: str) -> Any:
        if name in self._body:
            return self._body[name]
        if self._query is not None and name in self._query:
            values = self._query.getlist(name)
            return values[0] if len(values) == 1 else values
        return None

    def string(self, name: str, *, required: bool = False) -> str | None:
        value = self._raw(name)
        if value is None:
            if required:
                raise _missing(name)
            return None
        if not isinstance(value, str):
            raise InvalidArgument(f"Parameter '{name}' must be a string.", field=name)
        return value

    def required(self, name: str) -> str:
        value = self.string(name, required=True)
        assert value is not None
        return value

    def version(self, name: str = "version") -> str | int:
        """A version number as the client sends it (a string); the domain checks its form."""
        value = self._raw(name)
        if value is None or value == "":
            raise _missing(name)
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise InvalidArgument(f"Parameter '{name}' must be a version number.", field=name)
        return value

    def strings(self, name: str) -> list[str] | None:
        """A repeated field: repeated query keys, or a JSON list of strings."""
        if self._query is not None and name not in self._body:
            values = self._query.getlist(name)
            return values or None
        value = self._body.get(name)
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise InvalidArgument(f"Parameter '{name}' must be a list of strings.", field=name)
        return value

    def integer(self, name: str) -> int | None:
        value = self._raw(name)
        if value is None or value == "":
            return None
        # JSON numbers, or int64 as text (query strings, and proto JSON of int64 fields).
        if isinstance(value, str) and value.strip().lstrip("-").isdigit() and value.isascii():
            return int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidArgument(f"Parameter '{name}' must be an integer.", field=name)
        return value

    def boolean(self, name: str) -> bool | None:
        value = self._raw(name)
        if value is None or value == "":
            return None
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise InvalidArgument(f"Parameter '{name}' must be true or false.", field=name)

    def tags(self, name: str = "tags") -> dict[str, str] | None:
        """MLflow's tag list, ``[{"key": ..., "value": ...}]``, as a mapping."""
        value = self._body.get(name)
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(t, dict) for t in value):
            raise InvalidArgument(
                f"Parameter '{name}' must be a list of {{key, value}} objects.", field=name
            )
        tags: dict[str, str] = {}
        for tag in value:
            key, text = tag.get("key"), tag.get("value", "")
            if not isinstance(key, str) or not isinstance(text, str):
                raise InvalidArgument(
                    f"Each of '{name}' needs a string key and a string value.", field=name
                )
            tags[key] = text
        return tags


def _missing(name: str) -> InvalidArgument:
    return InvalidArgument(f"Missing value for required parameter '{name}'.", field=name)
