"""Alembic is the only way the schema is made: one head, and no drift from the ORM."""

import pytest
from alembic import command
from alembic.script import ScriptDirectory

from registry.database import alembic_config


def test_there_is_exactly_one_head():
    assert len(ScriptDirectory.from_config(alembic_config()).get_heads()) == 1


def test_every_revision_file_is_named_by_purpose():
    script = ScriptDirectory.from_config(alembic_config())
    for revision in script.walk_revisions():
        assert revision.doc, revision.revision
        assert not revision.doc.startswith("empty message"), revision.revision


@pytest.mark.parametrize(
    "backend_url", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_alembic_check_finds_no_drift(request, backend_url, tmp_path):
    if backend_url == "sqlite":
        url = f"sqlite:///{tmp_path / 'check.db'}"
        cfg = alembic_config(url)
        cfg.attributes["configure_logger"] = False
        command.upgrade(cfg, "head")
    else:
        url = request.getfixturevalue("postgres_url")
        cfg = alembic_config(url)
        cfg.attributes["configure_logger"] = False
    command.check(cfg)  # raises if autogenerate would change anything


def test_downgrade_to_base_and_up_again(tmp_path):
    cfg = alembic_config(f"sqlite:///{tmp_path / 'round.db'}")
    cfg.attributes["configure_logger"] = False
    command.upgrade(cfg, "head")
    command.downgrade(cfg, "base")
    command.upgrade(cfg, "head")
