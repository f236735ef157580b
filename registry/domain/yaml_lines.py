"""YAML that remembers where each value was: composed into nodes first, so an error about a
value can name its file and line, and with duplicate keys refused (PyYAML would silently keep
the last). Used to read policy files (:mod:`registry.domain.policy_files`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import yaml

from registry.domain.policy import PolicyError


class Lines:
    """Remembers the line of every value, by its path in the document."""

    def __init__(self) -> None:
        self.by_path: dict[tuple[Any, ...], int] = {}

    def line(self, path: Iterable[Any]) -> int:
        path = tuple(path)
        while path and path not in self.by_path:
            path = path[:-1]
        return self.by_path.get(path, 1)


def _to_python(node: yaml.Node, path: tuple[Any, ...], lines: Lines, where: str) -> Any:
    lines.by_path[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _scalar(key_node)
            if key in result:
                raise PolicyError(f"{where}:{key_node.start_mark.line + 1}: duplicate key {key!r}")
            result[key] = _to_python(value_node, (*path, key), lines, where)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_to_python(item, (*path, i), lines, where) for i, item in enumerate(node.value)]
    return _scalar(node)


def _scalar(node: yaml.Node) -> Any:
    if not isinstance(node, yaml.ScalarNode):
        raise PolicyError(f"line {node.start_mark.line + 1}: a key must be a plain value")
    if node.tag == "tag:yaml.org,2002:str" or node.style in ("'", '"'):
        return node.value
    # Dates and clock readings stay text ("18:00" would be the integer 1080 in YAML 1.1); the
    # policy parser reads them with the meaning the format documents.
    if node.tag.endswith(":timestamp") or ":" in node.value:
        return node.value
    return yaml.safe_load(node.value)


def read_yaml(data: bytes, where: str) -> tuple[Any, Lines]:
    try:
        node = yaml.compose(data, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        raise PolicyError(f"{where}:{line}: not valid YAML: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise PolicyError(f"{where}: not valid YAML: {exc}") from None
    lines = Lines()
    if node is None:
        raise PolicyError(f"{where}:1: the file is empty; it needs a 'policies:' list")
    return _to_python(node, (), lines, where), lines
