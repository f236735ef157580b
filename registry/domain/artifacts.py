"""Model files Modelgate keeps itself, under one root directory (the mlflow-artifacts store).

A team without a tracking server can upload a model's files here and register a version whose
source is ``mlflow-artifacts:/<model name>/<path>``; MLflow clients then download them from us.
The first segment of every artifact path names the registered model the files belong to, and
access follows that model's permissions: reading it to list and download, writing to it to
upload. The model must exist. Renaming a model does not move its files: versions registered
before a rename keep sources under the old name, which no longer grant access, so upload again
under the new name.

Paths are confined to the root: no absolute paths, no empty, ``.`` or ``..`` segments, no
backslashes or control characters, and nothing reached through a symbolic link that leaves it.
Modelgate itself never reads a version's source: these files are only served to clients.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from sqlalchemy.orm import Session

from registry.domain import permissions, validation
from registry.domain.errors import InvalidArgument, NotFound
from registry.domain.permissions import Action
from registry.domain.principal import Principal
from registry.domain.registered_models import find_model, lookup_name

CHUNK = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Entry:
    name: str
    is_dir: bool
    size: int | None


class ArtifactStore:
    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def list(self, session: Session, principal: Principal, path: str) -> list[Entry]:
        """The entries of a directory, by name. The root lists the models the principal may
        read that have files; a file or a missing directory lists nothing."""
        if not path.strip("/"):
            return self._models(principal)
        target = self._locate(session, principal, path.rstrip("/"), Action.READ)
        if not target.is_dir():
            return []
        entries = []
        for child in sorted(target.iterdir()):
            if not _inside(self.root, child):
                continue
            is_dir = child.is_dir()
            entries.append(Entry(child.name, is_dir, None if is_dir else child.stat().st_size))
        return entries

    def open(self, session: Session, principal: Principal, path: str) -> Path:
        """The file at ``path``; NotFound when there is none."""
        target = self._locate(session, principal, path, Action.READ, file=True)
        if not target.is_file():
            raise NotFound(f"No artifact {path!r}.")
        return target

    def save(self, session: Session, principal: Principal, path: str, stream: BinaryIO) -> None:
        """Store ``stream`` at ``path``, replacing what was there; written aside and moved into
        place, so a reader never sees half a file."""
        target = self._locate(session, principal, path, Action.WRITE, file=True)
        if target.is_dir():
            raise InvalidArgument(f"Artifact path {path!r} is a directory.", field="path")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise InvalidArgument(
                f"Artifact path {path!r} goes through a file as if it were a directory.",
                field="path",
            ) from None
        if not _inside(self.root, target.parent):
            raise InvalidArgument(f"Artifact path {path!r} leaves the store.", field="path")
        fd, scratch = tempfile.mkstemp(dir=target.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as out:
                shutil.copyfileobj(stream, out, CHUNK)
            os.replace(scratch, target)
        except BaseException:
            Path(scratch).unlink(missing_ok=True)
            raise

    def _models(self, principal: Principal) -> list[Entry]:
        if not self.root.is_dir():
            return []
        return [
            Entry(child.name, True, None)
            for child in sorted(self.root.iterdir())
            if child.is_dir()
            and not child.name.startswith(".")
            and permissions.can(principal, Action.READ, child.name)
        ]

    def _locate(
        self, session: Session, principal: Principal, path: str, action: Action, file: bool = False
    ) -> Path:
        segments = _segments(path)
        if file and len(segments) < 2:
            raise InvalidArgument(
                f"Artifact path {path!r} names no file: <model name>/<file path>.", field="path"
            )
        name = lookup_name(segments[0])
        permissions.require(principal, action, name)
        if find_model(session, name) is None:
            raise NotFound(f"Registered model {name!r} not found.")
        target = self.root.joinpath(*segments)
        if not _inside(self.root, target):
            raise InvalidArgument(f"Artifact path {path!r} leaves the store.", field="path")
        return target


def _segments(path: str) -> list[str]:
    if not isinstance(path, str) or path.startswith("/") or "\\" in path:
        raise InvalidArgument(
            "An artifact path is relative, '/'-separated: <model name>/<path>.", field="path"
        )
    validation.optional_text(path, "path", validation.MAX_SOURCE)  # refuses control characters
    segments = path.split("/")
    if any(s in ("", ".", "..") for s in segments):
        raise InvalidArgument(
            f"Artifact path {path!r} has an empty, '.' or '..' segment.", field="path"
        )
    return segments


def _inside(root: Path, path: Path) -> bool:
    """Whether ``path``, with every symbolic link followed, is within ``root``."""
    real_root = os.path.realpath(root)
    return os.path.commonpath([real_root, os.path.realpath(path)]) == real_root
