"""What was last imported from another registry, per source, model and version.

``modelgate import mlflow`` compares three states of each field: what it imported last time
(kept here), what the source holds now and what Modelgate holds now. That is how a second run
knows nothing changed, and how ``--sync`` tells a change at the source (brought over) from a
change on both sides (a conflict, reported and left alone).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from registry.orm.base import Base, Name

MODEL_ITSELF = 0  # the ``version`` of the row that holds the model's own fields


class ImportRecord(Base):
    __tablename__ = "import_records"
    __table_args__ = (sa.UniqueConstraint("source", "model", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(sa.String(512))  # the source's URL, without credentials
    model: Mapped[str] = mapped_column(Name())
    version: Mapped[int]  # MODEL_ITSELF for the model's description, tags and aliases
    state: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    imported_at: Mapped[dt.datetime]
