"""Re-checking a version's files against its digest, in the store bound to the session.

Every move into Staging or Production re-hashes the blobs of a version that has a manifest
and refuses on any difference (a ``digest_mismatch`` check).
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.orm import Session, scoped_session

from registry.domain.artifacts.store import ArtifactStore
from registry.domain.policy import Check
from registry.orm import ModelVersion

log = logging.getLogger("modelgate.artifacts")


_SESSION_KEY = "modelgate.artifact_store"


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
