"""The store on disk: blobs under their SHA-256, uploads received and recorded, files served,
a version's files hashed again, and the directories of earlier releases adopted.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import logging
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from registry.domain import manifests, permissions
from registry.domain.artifacts.paths import (
    BLOBS,
    INCOMING,
    ORPHANED,
    Entry,
    Location,
    parse_path,
    resource_name,
)
from registry.domain.artifacts.sources import files_at, record_file
from registry.domain.errors import AlreadyExists, Conflict, InvalidArgument, NotFound
from registry.domain.locking import find_model, lock_model
from registry.domain.permissions import Action
from registry.domain.principal import Principal, system
from registry.orm import ArtifactFile, ModelVersion, RegisteredModel
from registry.orm.base import utcnow

log = logging.getLogger("modelgate.artifacts")

CHUNK = 1024 * 1024
STALE_SCRATCH = dt.timedelta(days=1)


@dataclass(slots=True)
class Received:
    """An upload's bytes, hashed, in a scratch file of the store's, not yet anywhere."""

    scratch: Path
    sha256: str
    size: int

    def discard(self) -> None:
        self.scratch.unlink(missing_ok=True)


# --------------------------------------------------------------------------- the session's store


class ArtifactStore:
    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def blob(self, sha256: str) -> Path:
        return self.root / BLOBS / "sha256" / sha256[:2] / sha256

    # -- reading ------------------------------------------------------------------------

    def list(self, session: Session, principal: Principal, path: str) -> list[Entry]:
        """The entries of a directory, by name. The root lists the models the principal may
        read that have files; a file or a missing directory lists nothing."""
        if not path.strip("/"):
            return self._models(session, principal)
        where = parse_path(path.rstrip("/"))
        model = self._model(session, principal, where, Action.READ)
        rows = session.execute(
            sa.select(ArtifactFile.path, ArtifactFile.size).where(
                ArtifactFile.model_id == model.id,
                *(
                    [sa.func.substr(ArtifactFile.path, 1, len(where.path) + 1) == where.path + "/"]
                    if where.path
                    else []
                ),
            )
        ).all()
        skip = len(where.path) + 1 if where.path else 0
        children: dict[str, Entry] = {}
        for file_path, size in rows:
            head, below, _ = file_path[skip:].partition("/")
            children[head] = Entry(head, True, None) if below else Entry(head, False, size)
        return [children[name] for name in sorted(children)]

    def open(self, session: Session, principal: Principal, path: str) -> Path:
        """The stored bytes of the file at ``path``; NotFound when there is none."""
        where = parse_path(path, file=True)
        model = self._model(session, principal, where, Action.READ)
        sha256 = session.execute(
            sa.select(ArtifactFile.sha256).where(
                ArtifactFile.model_id == model.id, ArtifactFile.path == where.path
            )
        ).scalar_one_or_none()
        if sha256 is None:
            raise NotFound(f"No artifact {path!r}.")
        blob = self.blob(sha256)
        if not blob.is_file():
            log.error("the blob of %s (sha256 %s) is missing from the store", path, sha256)
            raise NotFound(f"The stored bytes of {path!r} are missing; tell the operators.")
        return blob

    def _models(self, session: Session, principal: Principal) -> list[Entry]:
        names = session.execute(
            sa.select(RegisteredModel.name)
            .where(sa.exists().where(ArtifactFile.model_id == RegisteredModel.id))
            .order_by(RegisteredModel.name)
        ).scalars()
        return [Entry(n, True, None) for n in names if permissions.can(principal, Action.READ, n)]

    def _model(
        self, session: Session, principal: Principal, where: Location, action: Action
    ) -> RegisteredModel:
        permissions.require(principal, action, where.model)
        model = find_model(session, where.model)
        if model is None:
            raise NotFound(f"Registered model {where.model!r} not found.")
        return model

    # -- uploading ----------------------------------------------------------------------

    def upload_target(self, session: Session, principal: Principal, path: str) -> Location:
        """Where an upload goes, checked before its body is read: a file path, under a model
        the caller may write to."""
        where = parse_path(path, file=True)
        self._model(session, principal, where, Action.WRITE)
        return where

    def receive(self, stream: BinaryIO) -> Received:
        """Stream an upload to a scratch file beside the blobs, hashing it on the way."""
        incoming = self.root / INCOMING
        incoming.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=incoming, prefix="upload-")
        digest, size = hashlib.sha256(), 0
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := stream.read(CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
                out.flush()
                os.fsync(out.fileno())  # the row that will name it must never outlive it
        except BaseException:
            Path(name).unlink(missing_ok=True)
            raise
        return Received(Path(name), digest.hexdigest(), size)

    def record_upload(
        self, session: Session, principal: Principal, where: Location, received: Received
    ) -> bool:
        """Record a received file at ``where``, in the caller's transaction; True if it is
        new, False if those very bytes were already there (a retry: nothing recorded).

        Raises AlreadyExists (other bytes are there), InvalidArgument (the path runs through
        a file, or is a directory) or Conflict (it is inside a registered version's files).
        """
        permissions.require(principal, Action.WRITE, where.model)
        model = lock_model(session, where.model)
        existing = self._row(session, model.id, where.path)
        if existing is not None:
            return self._again(existing, received, where)
        self._refuse_clash(session, model, where)
        self._refuse_sealed(session, model, where)
        self._place(received)
        row = ArtifactFile(
            model_id=model.id,
            path=where.path,
            size=received.size,
            sha256=received.sha256,
            uploaded_at=utcnow(),
            uploaded_by=principal.id,
        )
        try:
            with session.begin_nested():
                session.add(row)
        except IntegrityError:  # the unique index: another upload got there first
            winner = self._row(session, model.id, where.path)
            if winner is None:
                raise
            return self._again(winner, received, where)
        record_file(session, principal, model.name, row)
        return True

    def _row(self, session: Session, model_id: int, path: str) -> ArtifactFile | None:
        return session.execute(
            sa.select(ArtifactFile).where(
                ArtifactFile.model_id == model_id, ArtifactFile.path == path
            )
        ).scalar_one_or_none()

    def _again(self, existing: ArtifactFile, received: Received, where: Location) -> bool:
        if existing.sha256 == received.sha256 and existing.size == received.size:
            self._place(received)  # puts back a blob lost since, else keeps the one there
            return False
        raise AlreadyExists(
            f"Artifact {where.model}/{where.path} already exists with other content "
            f"(sha256 {existing.sha256}); stored files are never replaced: upload to a new path.",
            path=where.path,
            sha256=existing.sha256,
        )

    def _refuse_clash(self, session: Session, model: RegisteredModel, where: Location) -> None:
        parts = where.path.split("/")
        above = ["/".join(parts[:i]) for i in range(1, len(parts))]
        if (
            above
            and session.execute(
                sa.select(ArtifactFile.id).where(
                    ArtifactFile.model_id == model.id, ArtifactFile.path.in_(above)
                )
            ).first()
        ):
            raise InvalidArgument(
                f"Artifact path {where.model}/{where.path} goes through a file as if it were a "
                "directory.",
                field="path",
            )
        prefix = where.path + "/"
        if session.execute(
            sa.select(ArtifactFile.id).where(
                ArtifactFile.model_id == model.id,
                sa.func.substr(ArtifactFile.path, 1, len(prefix)) == prefix,
            )
        ).first():
            raise InvalidArgument(
                f"Artifact path {where.model}/{where.path} is a directory.", field="path"
            )

    def _refuse_sealed(self, session: Session, model: RegisteredModel, where: Location) -> None:
        registered = session.execute(
            sa.select(ModelVersion.version, ModelVersion.model_id, ModelVersion.store_path)
            .where(ModelVersion.store_model == model.name)
            .order_by(ModelVersion.model_id, ModelVersion.version)
        ).all()
        for version, owner, base in registered:
            if base == "" or where.path == base or where.path.startswith(base + "/"):
                whose = f"version {version}" if owner == model.id else "a version of another model"
                raise Conflict(
                    f"{where.model}/{base} is where {whose} was registered from; nothing may "
                    "be added there. Upload to a new path.",
                    **({"version": version} if owner == model.id else {}),
                )

    def _place(self, received: Received) -> None:
        """Put the bytes where their digest says, unless they are there already: a blob is
        never replaced (its name is its content), so racing uploads of the same bytes, or a
        retry, leave exactly one."""
        blob = self.blob(received.sha256)
        if blob.is_file():
            return
        blob.parent.mkdir(parents=True, exist_ok=True)
        # Read-only, and for the service's own user alone (the directories are private too).
        os.chmod(received.scratch, 0o400)
        try:
            os.link(received.scratch, blob)  # fails, rather than replaces, if it exists
        except FileExistsError:
            return
        except OSError:  # a filesystem without hard links: rename, which is atomic too
            if not blob.exists():
                os.replace(received.scratch, blob)

    # -- re-checking --------------------------------------------------------------------

    def differences(self, session: Session, row: ModelVersion) -> list[dict[str, Any]]:
        """What no longer matches a version's manifest: rows under its path and bytes on
        disk, each with the resource name and the problem."""
        assert row.manifest is not None
        assert row.store_path is not None
        expected = manifests.statement_resources(row.manifest)
        recorded = {
            resource_name(f.path, row.store_path): f.sha256
            for f in files_at(session, row.model_id, row.store_path)
        }
        problems = []
        for name in sorted(set(expected) | set(recorded), key=manifests.resource_order):
            if name not in recorded:
                problems.append({"name": name, "problem": "its record is gone"})
            elif name not in expected:
                problems.append({"name": name, "problem": "a file was added"})
            elif recorded[name] != expected[name]:
                problems.append({"name": name, "problem": "its record changed"})
        hashed: dict[str, str | None] = {}
        for name, sha256 in sorted(expected.items(), key=lambda i: manifests.resource_order(i[0])):
            if sha256 not in hashed:
                hashed[sha256] = self._hash(self.blob(sha256))
            actual = hashed[sha256]
            if actual is None:
                problems.append({"name": name, "problem": "its stored bytes are missing"})
            elif actual != sha256:
                problems.append({"name": name, "problem": f"its stored bytes hash to {actual}"})
        return problems

    @staticmethod
    def _hash(path: Path) -> str | None:
        digest = hashlib.sha256()
        try:
            with path.open("rb") as stream:
                while chunk := stream.read(CHUNK):
                    digest.update(chunk)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None
        return digest.hexdigest()

    # -- an earlier release's layout ----------------------------------------------------

    def legacy_directories(self) -> list[str]:
        """Directories an earlier release kept model files in: ``<root>/<model name>/``."""
        if not self.root.is_dir():
            return []
        return sorted(
            child.name
            for child in self.root.iterdir()
            if child.is_dir()
            and not child.is_symlink()
            and not child.name.startswith("@")
            and child.name != "lost+found"  # a volume's own, at the root of many mounts
        )

    def adopt_legacy(self, session: Session, name: str) -> int:
        """Bring one model's files from the name-keyed layout into the store, recording each
        as uploaded by the upgrade; the caller commits, then calls :meth:`retire_legacy`.
        Files of a name no model holds now are moved aside instead: a model created later
        under that name must not inherit them. Returns the number of files adopted."""
        directory = self.root / name
        try:
            model = lock_model(session, name)
        except NotFound:
            self._set_aside(directory, "no registered model has this name")
            return 0
        adopted = 0
        for file in _files_below(directory):
            relative = file.relative_to(directory).as_posix()
            try:
                where = parse_path(f"{name}/{relative}", file=True)
            except (InvalidArgument, NotFound):
                log.warning("not adopting %s: not a valid artifact path", file)
                continue
            with contextlib.ExitStack() as cleanup:
                received = self._copy_in(file)
                cleanup.callback(received.discard)
                existing = self._row(session, model.id, where.path)
                if existing is not None:
                    if existing.sha256 != received.sha256:
                        log.warning("%s differs from the file recorded at its path", file)
                    continue
                self._place(received)
                row = ArtifactFile(
                    model_id=model.id,
                    path=where.path,
                    size=received.size,
                    sha256=received.sha256,
                    uploaded_at=dt.datetime.fromtimestamp(file.stat().st_mtime, dt.UTC),
                    uploaded_by=UPGRADE.id,
                )
                session.add(row)
                session.flush()
                record_file(session, UPGRADE, model.name, row, adopted_from=str(file))
                adopted += 1
        return adopted

    def retire_legacy(self, name: str) -> None:
        """After the adoption committed: move the old directory aside (never deleted here)."""
        directory = self.root / name
        if directory.is_dir():
            self._set_aside(directory, "adopted into the write-once store")

    def _set_aside(self, directory: Path, why: str) -> None:
        aside = self.root / ORPHANED / f"{directory.name}-{time.strftime('%Y%m%dT%H%M%S')}"
        try:
            aside.parent.mkdir(parents=True, exist_ok=True)
            os.rename(directory, aside)
        except FileNotFoundError:  # another replica got there first
            return
        except OSError as exc:  # a read-only snapshot directory, say: leave it be
            log.warning("could not move %s aside (%s): %s", directory, why, exc)
            return
        log.warning("moved %s to %s: %s", directory, aside, why)

    def _copy_in(self, file: Path) -> Received:
        with file.open("rb") as stream:
            return self.receive(stream)

    def clear_stale_scratch(self, now: float | None = None) -> None:
        """Scratch files of uploads a crash interrupted, left for a day in case a replica
        is still writing one."""
        incoming = self.root / INCOMING
        if not incoming.is_dir():
            return
        cutoff = (now or time.time()) - STALE_SCRATCH.total_seconds()
        for scratch in incoming.iterdir():
            with contextlib.suppress(FileNotFoundError):
                if scratch.stat().st_mtime < cutoff:
                    scratch.unlink()


UPGRADE = system("upgrade")


def _files_below(directory: Path) -> Iterator[Path]:
    """Regular files under ``directory``, sorted; symbolic links are not followed."""
    for current, dirs, files in os.walk(directory, followlinks=False):
        dirs.sort()
        for name in sorted(files):
            path = Path(current) / name
            if path.is_symlink() or not path.is_file():
                log.warning("not adopting %s: not a regular file", path)
                continue
            yield path
