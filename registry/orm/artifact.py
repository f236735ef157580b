"""The files of Modelgate's own artifact store: one row per file, the write-once record.

The bytes live on disk by their SHA-256 (see registry.domain.artifacts); this table says
which model holds which path, with what content. ``(model_id, path)`` is unique, so the
database arbitrates two uploads racing for one path, and a row is never updated while its
model exists. When the model is deleted its rows are tombstoned (``model_id`` cleared,
``deleted_model`` and ``deleted_at`` set): kept for forensics, reachable by nobody, and a
model created later under the same name starts with no files.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from registry.orm.base import Base, Name

# A path inside one model's namespace; within PostgreSQL's btree limit in any script.
MAX_PATH = 512


class ArtifactFile(Base):
    __tablename__ = "artifact_files"
    __table_args__ = (sa.UniqueConstraint("model_id", "path"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    model_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("registered_models.id", ondelete="SET NULL")
    )
    path: Mapped[str] = mapped_column(sa.String(MAX_PATH))  # relative to the model: "v1/MLmodel"
    size: Mapped[int] = mapped_column(sa.BigInteger)
    sha256: Mapped[str] = mapped_column(sa.String(64))
    uploaded_at: Mapped[dt.datetime]
    uploaded_by: Mapped[str] = mapped_column(sa.String(256))
    deleted_at: Mapped[dt.datetime | None]
    deleted_model: Mapped[str | None] = mapped_column(Name())
