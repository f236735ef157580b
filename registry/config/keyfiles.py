"""Private key files of the embedded default: made once, readable by their owner alone.

The embedded default keeps its keys in files beside the SQLite database (the service's
secret key, and any other key that must survive a restart). A key file is created with mode
0600 in one atomic step, so two processes starting at once end up with the same complete key,
and a key file that group or others may read is refused rather than used: whoever else can
read it can forge what it signs and open what it seals.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path


class KeyFileError(RuntimeError):
    """A key file cannot be trusted (or read); the service refuses to start on it."""


def read_private(path: Path) -> bytes:
    """The content of the key file at ``path``, refusing one that group or others may read
    (or that is not a regular file)."""
    try:
        info = path.stat()
    except OSError as exc:
        raise KeyFileError(f"cannot read the key file {path}: {exc.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        raise KeyFileError(f"the key file {path} is not a regular file.")
    if info.st_mode & 0o077:
        raise KeyFileError(
            f"the key file {path} may be read by others (mode {stat.S_IMODE(info.st_mode):04o}); "
            f"make it private with `chmod 600 {path}`, and if others may have read it, treat "
            "the key as exposed and replace it (SECURITY.md says how)."
        )
    return path.read_bytes()


def _write_aside(path: Path, content: bytes, suffix: str) -> Path:
    """``content`` in a private file beside ``path``, flushed to disk, ready to be put in
    place in one atomic step."""
    aside = path.with_name(f".{path.name}.{os.getpid()}{suffix}")
    fd = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(content)
        out.flush()
        os.fsync(out.fileno())
    return aside


def create_private(path: Path, content: bytes) -> bytes:
    """Write ``content`` to ``path`` with mode 0600 unless the file exists; return what the
    file holds afterwards (another process's key if it got there first).

    Written aside, then hard-linked into place: the link is atomic and fails if the name is
    taken, so no process ever sees half a key or replaces another's."""
    path.parent.mkdir(parents=True, exist_ok=True)
    aside = _write_aside(path, content, "")
    try:
        with contextlib.suppress(FileExistsError):  # another process's key came first
            os.link(aside, path)
    finally:
        aside.unlink(missing_ok=True)
    return read_private(path)


def replace_private(path: Path, content: bytes) -> None:
    """Put ``content`` in place of the key file at ``path`` atomically, mode 0600 (for a key
    being replaced on purpose; :func:`create_private` never replaces)."""
    aside = _write_aside(path, content, ".new")
    try:
        os.replace(aside, path)
    finally:
        aside.unlink(missing_ok=True)


# --------------------------------------------------------------------------- the database

# The embedded default's SQLite database holds what the key protects and more (tokens'
# hashes, sealed webhook secrets, the whole registry): every file it and its process create
# (the database, its -wal and -shm, key files, the artifact store) is for the owner alone.
PRIVATE_UMASK = 0o077
SQLITE_COMPANIONS = ("", "-wal", "-shm", "-journal")


def create_files_private() -> None:
    """From now on, files and directories this process (and its children) create are
    readable by their owner alone."""
    os.umask(PRIVATE_UMASK)


def tighten_database(database: Path) -> list[Path]:
    """Make the SQLite database at ``database`` and its companion files private if group or
    others may read them (a database made before this rule, or copied in); return the files
    changed, for the caller to say so."""
    tightened = []
    for suffix in SQLITE_COMPANIONS:
        path = database.with_name(database.name + suffix)
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except FileNotFoundError:
            continue
        if mode & 0o077:
            path.chmod(mode & 0o700)
            tightened.append(path)
    return tightened
