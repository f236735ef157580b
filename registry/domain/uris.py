"""Parsing of ``models:/`` URIs, the form deploy pipelines name a model in."""

from __future__ import annotations

from dataclasses import dataclass

from registry.domain import validation
from registry.domain.errors import InvalidArgument
from registry.domain.stages import Stage

PREFIX = "models:/"


@dataclass(frozen=True, slots=True)
class ModelRef:
    """Exactly one of ``version``, ``stage``, ``alias`` or ``latest`` is set."""

    name: str
    version: int | None = None
    stage: Stage | None = None
    alias: str | None = None
    latest: bool = False
    subpath: str = ""


def parse_model_uri(uri: str) -> ModelRef:
    """Parse ``models:/NAME/3``, ``models:/NAME/Production``, ``models:/NAME/latest`` and
    ``models:/NAME@alias``, each optionally followed by a path inside the model.

    Stage names and ``latest`` are matched without regard to case, as MLflow does.
    Raises InvalidArgument for anything else.
    """
    if not isinstance(uri, str) or not uri.startswith(PREFIX):
        raise InvalidArgument(
            "uri must look like models:/NAME/VERSION, models:/NAME/STAGE, models:/NAME/latest "
            "or models:/NAME@ALIAS.",
            field="uri",
        )
    rest = uri[len(PREFIX) :].lstrip("/")
    head, _, subpath = rest.partition("/")
    if "@" in head:
        name, _, alias = head.partition("@")
        return ModelRef(
            name=validation.model_name(name, "uri"),
            alias=validation.alias(alias, "uri") if alias.lower() != "latest" else None,
            latest=alias.lower() == "latest",
            subpath=subpath,
        )
    selector, _, subpath = subpath.partition("/")
    if not selector:
        raise InvalidArgument(
            "uri names a model but no version, stage, 'latest' or alias: "
            "use models:/NAME/VERSION, models:/NAME/STAGE or models:/NAME@ALIAS.",
            field="uri",
        )
    name = validation.model_name(head, "uri")
    if selector.isascii() and selector.isdigit():
        return ModelRef(name=name, version=validation.version_number(selector), subpath=subpath)
    if selector.lower() == "latest":
        return ModelRef(name=name, latest=True, subpath=subpath)
    return ModelRef(name=name, stage=Stage.parse(selector), subpath=subpath)


def version_uri(name: str, version: int) -> str:
    return f"{PREFIX}{name}/{version}"
