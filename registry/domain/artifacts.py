"""Model files Modelgate keeps itself: a write-once store, keyed by the model's identity.

A team without a tracking server uploads a model's files to ``mlflow-artifacts:/<model
name>/<path>`` and registers a version from there; MLflow clients then download them from
us. The first segment of an artifact path names the registered model the files belong to *now*,
and access follows that model's permissions: reading it to list and download, writing to it
to upload.

Write-once. Every file is a row of ``artifact_files`` (model id, path, size, SHA-256, who,
when), unique per model and path, and its bytes are kept on disk under their own SHA-256
(``<root>/@blobs/sha256/ab/ab12...``). Nothing ever replaces a file: an upload to a path that
holds other bytes is refused (AlreadyExists) and the stored bytes stay; the same bytes again
(a client retrying) succeed without a second record. Every new file is an
``artifact.uploaded`` event. Because bytes are addressed by their digest, a blob can only
ever hold the bytes its name promises, and no path a client sends ever becomes a path on
disk (no traversal, symbolic links, file-versus-directory or name-length surprises).

Identity, not name. Rows are keyed by the model's id: a rename keeps the files with the model
(versions registered from them get their source rewritten to the new name in the same
transaction), deleting the model tombstones its rows (kept, unreachable), and a new model
under an old name starts empty, so an old URI fails closed instead of serving a stranger's
files.

Versions (:func:`place_of_source`). A version registered from its own model's files records
their manifest (registry.domain.manifests: the OpenSSF model-signing format) and model
digest, built from the rows, not by reading the files again. A version of model A may not be
registered from another model's files. The place any ``mlflow-artifacts:/<name>/<path>``
source points at is sealed: nothing may be uploaded under it while the version exists,
whichever model holds that name then. Every move into Staging or Production re-hashes the
blobs of a version that has a manifest (:func:`recheck`) and refuses on any difference.

Order of file and row on upload: the body is streamed to a scratch file and hashed with no
transaction open; then, under the model's row lock, the row is checked, the blob put in place
(never replacing one), and the row inserted with its event. A crash before the commit leaves
at most an unreferenced blob; a committed row always has its blob.
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
from urllib.parse import unquote, urlsplit

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, scoped_session

from registry.domain import manifests, permissions, validation
from registry.domain.errors import AlreadyExists, Conflict, InvalidArgument, NotFound
from registry.domain.events import EventType, record
from registry.domain.locking import find_model, lock_model, lookup_name
from registry.domain.permissions import Action
from registry.domain.policy import Check
from registry.domain.principal import Principal, system
from registry.orm import ArtifactFile, ModelVersion, RegisteredModel
from registry.orm.artifact import MAX_PATH
from registry.orm.base import utcnow

log = logging.getLogger("modelgate.artifacts")

CHUNK = 1024 * 1024
SCHEME = "mlflow-artifacts"
# Directories of the store's own. Model names may not contain '@', so none of these can be
# the directory an earlier release kept a model's files in.
BLOBS = "@blobs"
INCOMING = "@incoming"
ORPHANED = "@orphaned"
STALE_SCRATCH = dt.timedelta(days=1)
_SESSION_KEY = "modelgate.artifact_store"


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


@dataclass(slots=True)
class Received:
    """An upload's bytes, hashed, in a scratch file of the store's, not yet anywhere."""

    scratch: Path
    sha256: str
    size: int

    def discard(self) -> None:
        self.scratch.unlink(missing_ok=True)


# --------------------------------------------------------------------------- paths and sources


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


@dataclass(frozen=True, slots=True)
class SourcePlace:
    """What a version records about where its source is in the store."""

    store_model: str | None = None
    store_path: str | None = None
    digest: str | None = None
    manifest: dict[str, Any] | None = None


def place_of_source(
    session: Session, model: RegisteredModel, source: str, digest: str | None
) -> SourcePlace:
    """Where a new version of ``model`` (locked) registered from ``source`` is in the store.

    - In the model's own files: they must exist; the manifest and digest are computed from
      their rows (a client's ``digest`` is refused), and the place is sealed.
    - In another registered model's files: refused. Files belong to the model they were
      uploaded to; a version of A serving B's could be changed by B's writers.
    - Under a name no model holds (a tracking server's ``<experiment>/<run>``, say): taken as
      given, with the client's digest if any, and sealed by name, so that a model created
      later under that name cannot fill it after the version was approved.
    """
    location = store_location(source)
    if location is None:
        return SourcePlace(digest=digest)
    if location.model == model.name:
        if digest is not None:
            raise InvalidArgument(
                "digest is for sources outside Modelgate's store; for files in it Modelgate "
                "computes the digest itself.",
                field="digest",
            )
        own = _own_location(source, location)
        computed, manifest = manifest_of(session, model, own)
        return SourcePlace(model.name, own.path, computed, manifest)
    if find_model(session, location.model) is not None:
        raise InvalidArgument(
            f"Source {source!r} is in the files of model {location.model!r}; a version of "
            f"{model.name!r} may only be registered from its own: "
            f"{source_uri(model.name, '<path>')}.",
            field="source",
        )
    if len(location.path) > MAX_PATH:  # no upload can reach it: nothing to seal
        return SourcePlace(digest=digest)
    return SourcePlace(location.model, location.path, digest)


def _own_location(source: str, location: Location) -> Location:
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


def _resource_name(path: str, base: str) -> str:
    """A file's name in a manifest of ``base``: relative to it, ``.`` for ``base`` itself."""
    return "." if path == base else path[len(base) + 1 :]


def _under(column: Any, base: str) -> Any:
    """``column`` is ``base`` or a path below it. substr, not LIKE: SQLite's LIKE ignores
    case unless told otherwise, and '_' and '%' would need escaping."""
    prefix = base + "/"
    return sa.or_(column == base, sa.func.substr(column, 1, len(prefix)) == prefix)


# --------------------------------------------------------------------------- the session's store


def use_store(session: Session, store: ArtifactStore | None) -> None:
    """Make ``store`` the one the domain re-checks version files in, for this session (the
    app binds its store to each request's session)."""
    if isinstance(session, scoped_session):
        session = session()
    session.info[_SESSION_KEY] = store


def store_of(session: Session) -> ArtifactStore | None:
    if isinstance(session, scoped_session):
        session = session()
    store: ArtifactStore | None = session.info.get(_SESSION_KEY)
    return store


# --------------------------------------------------------------------------- versions and models


def files_at(session: Session, model_id: int, base: str) -> list[ArtifactFile]:
    return list(
        session.execute(
            sa.select(ArtifactFile)
            .where(ArtifactFile.model_id == model_id, _under(ArtifactFile.path, base))
            .order_by(ArtifactFile.path)
        ).scalars()
    )


def manifest_of(
    session: Session, model: RegisteredModel, location: Location
) -> tuple[str, dict[str, Any]]:
    """The digest and manifest of ``model``'s files at ``location``, from their rows. Refuses
    an empty place: a version pointing at nothing could be filled after its approval."""
    rows = files_at(session, model.id, location.path)
    if not rows:
        raise InvalidArgument(
            f"Modelgate's store holds no files at {location.uri!r}; upload them first.",
            field="source",
        )
    subject = location.path.rsplit("/", 1)[-1]
    statement = manifests.statement(
        subject, [(_resource_name(r.path, location.path), r.sha256) for r in rows]
    )
    return manifests.statement_digest(statement), statement


def follow_rename(
    session: Session, model: RegisteredModel, new_name: str, now: dt.datetime
) -> list[dict[str, Any]]:
    """Rewrite the sources of the model's versions registered from its own files to its new
    name, so they keep loading the same bytes; what changed, for the rename's event."""
    rewritten = []
    rows = session.execute(
        sa.select(ModelVersion)
        .where(ModelVersion.model_id == model.id, ModelVersion.store_model == model.name)
        .order_by(ModelVersion.version)
    ).scalars()
    for row in rows:
        assert row.store_path is not None  # set with store_model
        new_source = source_uri(new_name, row.store_path)
        rewritten.append({"version": row.version, "from": row.source, "to": new_source})
        row.source, row.store_model, row.updated_at = new_source, new_name, now
    return rewritten


def tombstone(session: Session, model: RegisteredModel, now: dt.datetime) -> int:
    """Detach a model's files before it is deleted: kept, with its name and the time, for
    forensics; reachable by nobody, and never by a later model of the same name."""
    result = session.execute(
        sa.update(ArtifactFile)
        .where(ArtifactFile.model_id == model.id)
        .values(model_id=None, deleted_at=now, deleted_model=model.name)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def recheck(session: Session, row: ModelVersion) -> list[Check]:
    """For a version registered from the store: do its files still hash to its manifest?
    One ``digest_mismatch`` check naming what differs, or nothing."""
    if row.manifest is None or row.store_path is None:
        return []
    store = store_of(session)
    if store is None:
        return [_mismatch(row, [], "this process has no artifact store to re-check its files in")]
    problems = store.differences(session, row)
    if not problems:
        return []
    first = problems[0]
    log.error(
        "version %s of model id %s no longer matches its digest %s: %s",
        row.version,
        row.model_id,
        row.digest,
        problems,
    )
    return [_mismatch(row, problems, f"{first['name']!r}: {first['problem']}")]


def _mismatch(row: ModelVersion, problems: list[dict[str, Any]], what: str) -> Check:
    return {
        "check": "digest_mismatch",
        "digest": row.digest,
        "files": problems[:20],
        "message": f"The files of version {row.version} no longer match its digest "
        f"{row.digest} ({what}); nothing was changed. The artifact store was altered outside "
        "Modelgate: tell its operators.",
    }


# --------------------------------------------------------------------------- the store


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
        _record(session, principal, model.name, row)
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
            _resource_name(f.path, row.store_path): f.sha256
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
                _record(session, UPGRADE, model.name, row, adopted_from=str(file))
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


def record_missing_digests(session: Session) -> list[tuple[str, int]]:
    """Versions an earlier release registered from ``mlflow-artifacts:`` sources: record
    where they point (sealing it), and for those in their own model's files the manifest of
    the files there now (from this moment nothing there can change), with a
    ``model_version.updated`` event saying so. Those without files get no digest (a
    ``require_digest`` gate will hold them back)."""
    found = session.execute(
        sa.select(ModelVersion, RegisteredModel)
        .join(RegisteredModel, RegisteredModel.id == ModelVersion.model_id)
        .where(
            sa.func.lower(ModelVersion.source).like(f"{SCHEME}:%"),
            ModelVersion.store_model.is_(None),
        )
        .order_by(RegisteredModel.name, ModelVersion.version)
    ).all()
    done = []
    for row, model in found:
        location = store_location(row.source)
        if location is None or len(location.path) > MAX_PATH:
            continue
        if location.model != model.name:
            row.store_model, row.store_path = location.model, location.path
            continue
        try:
            own = _own_location(row.source, location)
            digest, manifest = manifest_of(session, model, own)
        except InvalidArgument as exc:
            log.warning("version %s of %r keeps no digest: %s", row.version, model.name, exc)
            row.store_model, row.store_path = location.model, location.path
            continue
        before = row.digest
        row.digest, row.manifest = digest, manifest
        row.store_model, row.store_path = model.name, own.path
        row.updated_at = utcnow()
        session.flush()
        record(
            session,
            EventType.VERSION_UPDATED,
            UPGRADE,
            model=model.name,
            version=row.version,
            data={
                "digest": {"before": before, "after": digest},
                "reason": "registered before Modelgate recorded digests; recorded from the "
                "files in its store at the upgrade",
            },
        )
        done.append((model.name, row.version))
    return done


def _record(
    session: Session, principal: Principal, model: str, row: ArtifactFile, **extra: Any
) -> None:
    record(
        session,
        EventType.ARTIFACT_UPLOADED,
        principal,
        model=model,
        data={
            "path": row.path,
            "uri": source_uri(model, row.path),
            "size": row.size,
            "sha256": row.sha256,
            **extra,
        },
    )


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
