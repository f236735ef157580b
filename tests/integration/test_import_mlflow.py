"""`modelgate import mlflow` against a live source: another Modelgate server speaking MLflow.

The source is `modelgate serve` on a real port, with a SQLite database of its own, seeded
through its MLflow REST API as a team's registry would have been (gaps in version numbers,
several stages, aliases, tags). Each test imports into a separate, freshly migrated database
(SQLite, and PostgreSQL when it is available) with the real command line, then reads the
result through the domain layer. Tests share the source, so each seeds models under its own
prefix and imports with --filter.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa
from sqlalchemy.orm import Session

from registry import config
from registry.domain import audit, on_commit, policy_files, registered_models, transitions, versions
from registry.domain.errors import NotFound
from registry.domain.principal import system
from registry.orm import AuditEvent, ImportRecord, RegisteredModel
from tests.conftest import OPEN_POLICIES, PG_URL, ROOT, require_service
from tests.helpers import MODELGATE, clean_env, free_port, postgres_database, served

SOURCE_TOKEN = "mgt_import-source-admin-token-0123456789"
OPERATOR = system()


@dataclass
class Source:
    """The source registry: its URL, its database file, and MLflow REST calls as its admin."""

    url: str
    database: str

    def call(self, method: str, endpoint: str, **fields: Any) -> dict[str, Any]:
        url = f"{self.url}/api/2.0/mlflow/{endpoint}"
        headers = {"Authorization": f"Bearer {SOURCE_TOKEN}"}
        if method == "GET":
            response = requests.get(url, params=fields, headers=headers, timeout=30)
        else:
            response = requests.request(method, url, json=fields, headers=headers, timeout=30)
        assert response.status_code == 200, f"{method} {endpoint}: {response.text}"
        return response.json()

    def model(self, name: str, **fields: Any) -> None:
        tags = [{"key": k, "value": v} for k, v in fields.pop("tags", {}).items()]
        self.call("POST", "registered-models/create", name=name, tags=tags, **fields)

    def version(self, name: str, **fields: Any) -> str:
        fields.setdefault("source", f"s3://models/{name}")
        fields["tags"] = [{"key": k, "value": v} for k, v in fields.pop("tags", {}).items()]
        return self.call("POST", "model-versions/create", name=name, **fields)["model_version"][
            "version"
        ]

    def stage(self, name: str, version: int, stage: str) -> None:
        self.call(
            "POST",
            "model-versions/transition-stage",
            name=name,
            version=str(version),
            stage=stage,
            archive_existing_versions=False,
        )

    def alias(self, name: str, alias: str, version: int) -> None:
        self.call("POST", "registered-models/alias", name=name, alias=alias, version=str(version))

    def get_version(self, name: str, version: int) -> dict[str, Any]:
        return self.call("GET", "model-versions/get", name=name, version=str(version))[
            "model_version"
        ]


@dataclass
class Target:
    """The registry imported into: its settings, and the command line run against it."""

    env: dict[str, str]
    workdir: Path
    engine: sa.Engine

    def run(self, *args: str, expect: int | None = 0) -> str:
        done = subprocess.run(
            [MODELGATE, "import", "mlflow", *args],
            env=self.env,
            cwd=self.workdir,
            capture_output=True,
            text=True,
            timeout=300,
        )
        output = done.stdout + done.stderr
        assert "Traceback" not in output, output
        if expect is not None:
            assert done.returncode == expect, output
        return output

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        with Session(self.engine) as session:
            yield session

    def model(self, name: str) -> Any:
        with self.session() as session:
            return registered_models.get_model(session, OPERATOR, name)

    def versions(self, name: str) -> dict[int, Any]:
        with self.session() as session:
            page = versions.list_versions(session, OPERATOR, name, max_results=1000)
            return {v.version: v for v in page.items}

    def import_events(self, model: str) -> list[AuditEvent]:
        with self.session() as session:
            return list(
                session.execute(
                    sa.select(AuditEvent)
                    .where(AuditEvent.model == model, AuditEvent.event == "import")
                    .order_by(AuditEvent.seq)
                ).scalars()
            )

    def event_count(self) -> int:
        with self.session() as session:
            return session.execute(sa.select(sa.func.count()).select_from(AuditEvent)).scalar_one()


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Source]:
    workdir = tmp_path_factory.mktemp("import-source")
    database = f"sqlite:///{workdir / 'source.db'}"
    env = clean_env(
        MODELGATE_DATABASE_URL=database,
        MODELGATE_SECRET_KEY="import-source",
        MODELGATE_BOOTSTRAP_TOKEN=SOURCE_TOKEN,
        MODELGATE_POLICY_PATH=OPEN_POLICIES,
    )
    with served(free_port(), env, workdir, workdir / "server.log") as url:
        yield Source(url, database)


_databases = itertools.count()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Target]:
    env = clean_env(MODELGATE_SECRET_KEY="import-target")
    with contextlib.ExitStack() as stack:
        if request.param == "postgres":
            base = require_service(PG_URL, "PostgreSQL", "MODELGATE_TEST_DATABASE_URL")
            name = f"mgtest_import_{os.getpid()}_{next(_databases)}"
            env["MODELGATE_DATABASE_URL"] = stack.enter_context(postgres_database(base, name))
        else:
            env["MODELGATE_DATABASE_URL"] = f"sqlite:///{tmp_path / 'target.db'}"
        done = subprocess.run(
            [MODELGATE, "db", "upgrade"], env=env, cwd=tmp_path, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        on_commit.install()  # local changes made by the tests are audited like any other
        url = config.normalise_database_url(env["MODELGATE_DATABASE_URL"])
        engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        stack.callback(engine.dispose)
        yield Target(env, tmp_path, engine)


def millis(moment: dt.datetime) -> int:
    return round(moment.timestamp() * 1000)


# --------------------------------------------------------------------------- first import


def seed_keep(source: Source) -> None:
    """keep-fraud: versions 1, 2, 4, 5 (3 deleted), in four stages, two aliases, tags."""
    if "keep-fraud" in str(source.call("GET", "registered-models/search", max_results=1000)):
        return  # seeded by the other target's run of the test
    source.model("keep-fraud", description="Card fraud scorer", tags={"team": "risk"})
    for number in range(1, 6):
        source.version(
            "keep-fraud",
            source=f"s3://models/fraud/{number}",
            run_id=f"run-{number}",
            run_link=f"https://ci.example.com/{number}",
            description=f"build {number}",
            tags={"metric.auc": f"0.9{number}"},
        )
    source.call("DELETE", "model-versions/delete", name="keep-fraud", version="3")
    source.stage("keep-fraud", 1, "Archived")
    source.stage("keep-fraud", 2, "Production")
    source.stage("keep-fraud", 4, "Staging")
    source.alias("keep-fraud", "champion", 2)
    source.alias("keep-fraud", "challenger", 4)
    source.model("keep-churn")
    source.version("keep-churn")
    source.model("other-model")  # outside the filter
    source.version("other-model")


def test_import_keeps_numbers_stages_aliases_and_tags_and_audits_each_change(
    source: Source, target: Target
) -> None:
    seed_keep(source)
    output = target.run("--from", source.url, "--token", SOURCE_TOKEN, "--filter", "keep-*")
    assert "keep-fraud: created (4 versions" in output
    assert "2 models (2 new, 0 updated, 0 unchanged), 5 versions, 2 aliases" in output

    fraud = target.model("keep-fraud")
    assert fraud.description == "Card fraud scorer"
    assert fraud.tags == {"team": "risk"}
    assert fraud.aliases == {"champion": 2, "challenger": 4}
    found = target.versions("keep-fraud")
    assert sorted(found) == [1, 2, 4, 5]
    assert {n: v.stage for n, v in found.items()} == {
        1: "Archived",
        2: "Production",
        4: "Staging",
        5: "None",
    }
    original = source.get_version("keep-fraud", 4)
    four = found[4]
    assert (four.source, four.run_id, four.run_link, four.description) == (
        "s3://models/fraud/4",
        "run-4",
        "https://ci.example.com/4",
        "build 4",
    )
    assert four.tags == {"metric.auc": "0.94"}
    assert four.created_by == original["user_id"] == "service:bootstrap-admin"
    assert millis(four.created_at) == original["creation_timestamp"]
    with pytest.raises(NotFound, match="other-model"):
        target.model("other-model")

    # Registration continues after the highest imported number.
    with target.session() as session:
        created = versions.create_version(session, OPERATOR, "keep-fraud", source="s3://new")
        session.commit()
    assert created.version == 6

    # Each change is an "import" event naming the source and the original time and user.
    recorded = target.import_events("keep-fraud")
    changes = [(e.data["change"], e.version) for e in recorded]
    assert changes == [
        ("model.created", None),
        ("model_version.created", 1),
        ("model_version.created", 2),
        ("model_version.created", 4),
        ("model_version.created", 5),
        ("model_version.alias_set", 4),
        ("model_version.alias_set", 2),
    ]
    assert {e.actor for e in recorded} == {"system:import"}
    assert {e.data["imported_from"] for e in recorded} == {source.url}
    four_created = recorded[3].data
    assert four_created["stage"] == "Staging"
    assert four_created["original"] == {
        "created_at": dt.datetime.fromtimestamp(original["creation_timestamp"] / 1000, dt.UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z"),
        "updated_at": dt.datetime.fromtimestamp(original["last_updated_timestamp"] / 1000, dt.UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z"),
        "user_id": "service:bootstrap-admin",
    }
    with target.session() as session:
        history = audit.stage_history(session, OPERATOR, "keep-fraud")
        assert audit.verify(session, OPERATOR).ok
    assert [h.version for h in history.stages["Production"]] == [2]
    assert [h.version for h in history.stages["Staging"]] == [4]

    # A second run changes nothing, and says so.
    before = target.event_count()
    again = target.run("--from", source.url, "--token", SOURCE_TOKEN, "--filter", "keep-*")
    assert "2 models (0 new, 0 updated, 2 unchanged), 0 versions" in again
    assert "Nothing changed at the source since the last run." in again
    assert target.event_count() == before


def test_dry_run_writes_nothing(source: Source, target: Target) -> None:
    if "dry-one" not in str(source.call("GET", "registered-models/search", max_results=1000)):
        source.model("dry-one")
        source.version("dry-one")
        source.alias("dry-one", "champion", 1)
    before = target.event_count()
    output = target.run(
        "--from", source.url, "--token", SOURCE_TOKEN, "--filter", "dry-*", "--dry-run"
    )
    assert "dry-one: would be created (1 versions, 0 stages, 0 requests, 1 aliases" in output
    assert "Dry run (nothing written): would import" in output
    assert target.event_count() == before
    with target.session() as session:
        assert session.execute(sa.select(RegisteredModel)).first() is None
        assert session.execute(sa.select(ImportRecord)).first() is None


# --------------------------------------------------------------------------- keeping in sync


def test_sync_brings_source_changes_over_and_reports_conflicts(
    source: Source, target: Target, request: pytest.FixtureRequest
) -> None:
    name = f"sync-{request.node.callspec.id}"  # each target run gets a model of its own
    source.model(name, description="first", tags={"team": "a", "tier": "1"})
    source.version(name, tags={"k": "base"})
    source.version(name)
    source.stage(name, 2, "Staging")
    source.alias(name, "dev-latest", 1)
    target.run("--from", source.url, "--token", SOURCE_TOKEN, "--filter", name)

    # The source moves on...
    source.version(name, source="s3://models/three")
    source.alias(name, "dev-latest", 2)  # free under the default policy
    source.call("POST", "registered-models/set-tag", name=name, key="team", value="b")
    source.call("PATCH", "model-versions/update", name=name, version="1", description="v1 notes")
    # ...and so does Modelgate, on two of the same fields, differently.
    source.call("PATCH", "registered-models/update", name=name, description="source says")
    source.call("POST", "model-versions/set-tag", name=name, version="1", key="k", value="src")
    with target.session() as session:
        registered_models.update_model(session, OPERATOR, name, description="we say")
        versions.set_version_tag(session, OPERATOR, name, 1, "k", "ours")
        registered_models.set_model_tag(session, OPERATOR, name, "tier", "2")  # only here
        session.commit()

    # Without --sync a changed model is left alone, with a hint.
    plain = target.run("--from", source.url, "--token", SOURCE_TOKEN, "--filter", name)
    assert f"{name}: skipped" in plain
    assert "--sync brings it over" in plain
    assert sorted(target.versions(name)) == [1, 2]

    before = target.event_count()
    synced = target.run(
        "--from", source.url, "--token", SOURCE_TOKEN, "--filter", name, "--sync", expect=3
    )
    assert "the model's description changed on both sides" in synced
    assert "version 1: tag 'k' changed on both sides" in synced
    assert "1 conflicts, 0 errors" in synced

    model = target.model(name)
    found = target.versions(name)
    assert sorted(found) == [1, 2, 3]
    assert found[3].source == "s3://models/three"
    assert found[1].description == "v1 notes"
    assert model.aliases == {"dev-latest": 2}  # a free alias moves as any contributor's would
    assert model.tags == {"team": "b", "tier": "2"}  # theirs brought over, ours kept
    assert model.description == "we say"  # a conflict is never overwritten
    assert found[1].tags == {"k": "ours"}
    synced_changes = [
        (e.data["change"], e.version) for e in target.import_events(name) if e.seq > before
    ]
    assert synced_changes == [
        ("model_version.updated", 1),
        ("model_version.created", 3),
        ("model.tag_set", None),
    ]
    with target.session() as session:
        (moved,) = session.execute(
            sa.select(AuditEvent).where(
                AuditEvent.seq > before, AuditEvent.event == "model_version.alias_set"
            )
        ).scalars()
    assert (moved.actor, moved.version) == ("system:import", 2)

    # The conflicts stay reported until someone resolves them; nothing else moves.
    count = target.event_count()
    again = target.run(
        "--from", source.url, "--token", SOURCE_TOKEN, "--filter", name, "--sync", expect=3
    )
    assert "the model's description changed on both sides" in again
    assert "0 versions, 0 aliases, 0 stage changes, 0 requests filed, 0 tag changes" in again
    assert target.event_count() == count


# ------------------------------------------------------------------- the old registry moving


def pending_requests(target: Target, name: str) -> list[Any]:
    with target.session() as session:
        page = transitions.list_requests(
            session, OPERATOR, target_policies(), model=name, state="pending"
        )
        return page.items


def target_policies() -> Any:
    return policy_files.load(ROOT / "policies")


def test_a_stage_move_at_the_source_becomes_a_request_under_the_policy(
    source: Source, target: Target, request: pytest.FixtureRequest
) -> None:
    """Whoever still writes to the old registry cannot move Modelgate's Production: after
    the first import, a move there is a request here, filed by system:import (who approves
    nothing), and what the policy needs (two approvers) still decides."""
    name = f"moves-{request.node.callspec.id}"
    source.model(name)
    source.version(name)
    source.version(name)
    source.stage(name, 1, "Production")
    source.stage(name, 2, "Staging")
    source.alias(name, "champion", 1)
    target.run("--from", source.url, "--token", SOURCE_TOKEN, "--filter", name)
    assert {n: v.stage for n, v in target.versions(name).items()} == {
        1: "Production",
        2: "Staging",
    }

    source.stage(name, 2, "Production")  # at the source: straight in, archiving nothing
    source.stage(name, 1, "Archived")
    source.alias(name, "champion", 2)
    source.version(name)  # a new version, put straight into Production there
    source.stage(name, 3, "Production")
    synced = target.run(
        "--from", source.url, "--token", SOURCE_TOKEN, "--filter", name, "--sync", expect=3
    )
    assert "version 2: moved to Production at the source; request" in synced
    assert "filed (pending, 2 approvals needed)" in synced
    assert "alias 'champion' moved to version 2 at the source; not moved here" in synced

    found = target.versions(name)
    assert (found[1].stage, found[2].stage) == ("Production", "Staging")  # nothing applied
    assert found[3].stage == "None"  # a new version arrives in None, never in Production
    assert "version 3: moved to Production at the source; not requested here" in synced
    assert target.model(name).aliases == {"champion": 1}
    filed = {r.version: r for r in pending_requests(target, name)}
    promotion = filed[2]
    assert (promotion.to_stage, promotion.requested_by) == ("Production", "system:import")
    assert promotion.required_approvals == 2
    assert promotion.approvals == []  # its own approval never counts
    assert source.url in promotion.comment
    # Retiring version 1 at the source is a request too; Modelgate's retire-production
    # policy wants a second person for it, so it waits as well.
    assert "version 1: moved to Archived at the source; request" in synced
    assert (filed[1].to_stage, filed[1].requested_by) == ("Archived", "system:import")

    # A second run files nothing again: the requests stand for the moves.
    count = len(pending_requests(target, name))
    again = target.run(
        "--from", source.url, "--token", SOURCE_TOKEN, "--filter", name, "--sync", expect=3
    )
    assert "0 requests filed" in again
    assert "at the source; request" not in again
    assert len(pending_requests(target, name)) == count


def test_source_moves_can_be_reported_and_skipped(
    source: Source, target: Target, request: pytest.FixtureRequest
) -> None:
    name = f"skips-{request.node.callspec.id}"
    source.model(name)
    source.version(name)
    target.run("--from", source.url, "--token", SOURCE_TOKEN, "--filter", name)
    source.stage(name, 1, "Staging")
    args = ("--from", source.url, "--token", SOURCE_TOKEN, "--filter", name, "--sync")
    skipped = target.run(*args, "--source-moves", "skip", expect=3)
    assert "version 1: moved to Staging at the source; skipped (--source-moves skip)" in skipped
    assert "1 source moves held back" in skipped
    assert target.versions(name)[1].stage == "None"
    assert pending_requests(target, name) == []
    # Held back, so reported again until the two sides agree.
    assert "skipped (--source-moves skip)" in target.run(*args, "--source-moves", "skip", expect=3)
    requested = target.run(*args)
    assert "version 1: moved to Staging at the source; request" in requested


def test_a_model_new_at_the_source_after_the_first_run_comes_in_governed(
    source: Source, target: Target, request: pytest.FixtureRequest
) -> None:
    """Its versions arrive in None; the stages they hold at the source are requests, and
    its aliases move only as the alias rules let a contributor move them."""
    family = f"newcomer-*-{request.node.callspec.id}"
    first = family.replace("*", "first")
    late = family.replace("*", "late")
    source.model(first)
    target.run("--from", source.url, "--token", SOURCE_TOKEN, "--filter", family)
    source.model(late)
    source.version(late)
    source.version(late)
    source.stage(late, 1, "Production")
    source.stage(late, 2, "Archived")
    source.alias(late, "champion", 1)
    source.alias(late, "dev-try", 2)
    synced = target.run(
        "--from",
        source.url,
        "--token",
        SOURCE_TOKEN,
        "--filter",
        family,
        "--sync",
        expect=3,
    )
    assert f"{late}: held" in synced
    found = target.versions(late)
    # Production from None is no move the default policy allows: held back, said why.
    assert found[1].stage == "None"
    assert "version 1: moved to Production at the source; not requested here" in synced
    assert "No policy governs moving" in synced
    assert found[2].stage == "Archived"  # the archive policy needs no approval
    assert target.model(late).aliases == {"dev-try": 2}
    assert "alias 'champion' moved to version 1 at the source; not moved here" in synced


# --------------------------------------------------------------------------- failures


def test_a_bad_model_does_not_stop_the_others(source: Source, target: Target) -> None:
    """A model Modelgate cannot hold (a name with '?', which MLflow allows) fails alone."""
    listed = str(source.call("GET", "registered-models/search", max_results=1000))
    if "bad-ok" not in listed:
        source.model("bad-ok")
        source.version("bad-ok")
        engine = sa.create_engine(source.database, poolclass=sa.pool.NullPool)
        now = dt.datetime.now(dt.UTC)
        with Session(engine) as session:  # as a source other than Modelgate could have it
            session.add(
                RegisteredModel(
                    name="bad-why?", name_key="bad-why?", created_at=now, updated_at=now
                )
            )
            session.commit()
        engine.dispose()
    output = target.run(
        "--from", source.url, "--token", SOURCE_TOKEN, "--filter", "bad-*", expect=1
    )
    assert "bad-why?: failed" in output
    assert "bad-ok: created" in output
    assert "1 errors" in output
    assert sorted(target.versions("bad-ok")) == [1]


def test_the_source_requires_its_credentials(source: Source, target: Target) -> None:
    if "auth-one" not in str(source.call("GET", "registered-models/search", max_results=1000)):
        source.model("auth-one")
    common = ("--from", source.url, "--filter", "auth-*")
    for refused in (
        target.run(*common, expect=1),
        target.run(*common, "--token", "mgt_wrong", expect=1),
    ):
        assert "refused the credentials (401" in refused
    # Basic auth, as MLflow clients send it: any user name, the token as the password.
    output = target.run(*common, "--username", "ci", "--password", SOURCE_TOKEN)
    assert "auth-one: created" in output


def test_an_unreachable_source_is_a_clear_error(target: Target) -> None:
    output = target.run("--from", f"http://127.0.0.1:{free_port()}", "--retries", "0", expect=1)
    assert "Cannot reach http://127.0.0.1:" in output
    output = target.run("--from", "ftp://example.com", expect=1)
    assert "is not an http(s) URL" in output


def test_versions_gone_from_the_source_stay_and_numbers_are_never_reused(
    source: Source, target: Target, request: pytest.FixtureRequest
) -> None:
    name = f"gone-{request.node.callspec.id}"
    source.model(name)
    source.version(name)
    source.version(name)
    target.run("--from", source.url, "--token", SOURCE_TOKEN, "--filter", name)
    source.call("DELETE", "model-versions/delete", name=name, version="2")
    source.version(name)  # 3 at the source...
    with target.session() as session:  # ...and 3 here, registered meanwhile
        versions.create_version(session, OPERATOR, name, source="s3://ours")
        session.commit()

    synced = target.run(
        "--from", source.url, "--token", SOURCE_TOKEN, "--filter", name, "--sync", expect=3
    )
    assert "version 2 is gone from the source; Modelgate keeps it, no longer synced" in synced
    assert "version 3 is new at the source, but Modelgate has a version 3 of its own" in synced
    found = target.versions(name)
    assert sorted(found) == [1, 2, 3]
    assert found[3].source == "s3://ours"

    again = target.run(
        "--from", source.url, "--token", SOURCE_TOKEN, "--filter", name, "--sync", expect=3
    )
    assert "gone from the source" not in again  # said once
    assert "Modelgate has a version 3 of its own" in again
