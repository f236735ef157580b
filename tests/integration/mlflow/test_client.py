"""The real MLflow client (mlflow-skinny from PyPI) against a live Modelgate server.

`modelgate serve` runs on a real port over SQLite and over PostgreSQL, with a database of its
own, under policies/examples/open.yaml (stage moves apply at once); one test uses a second
server on the same database under the default policies. The client is configured as users
configure it: MLFLOW_TRACKING_URI and MLFLOW_TRACKING_TOKEN. It retries 5xx answers, so the
server's access log is checked to prove that a refused call was sent once.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import subprocess
import time
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import requests

with warnings.catch_warnings():  # MLflow warns about its own type hints on import
    warnings.simplefilter("ignore")
    import mlflow
    import mlflow.pyfunc
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException
    from mlflow.store.artifact.mlflow_artifacts_repo import MlflowArtifactsRepository
    from model_signing import hashing

from tests.conftest import DEFAULT_POLICIES, OPEN_POLICIES, PG_URL, require_service
from tests.helpers import MODELGATE, clean_env, free_port, postgres_database, served

pytestmark = [
    # Stage APIs are deprecated client-side since MLflow 2.9 (they still work); pyfunc warns
    # about pickled models. Neither is ours to fix.
    pytest.mark.filterwarnings("ignore::FutureWarning"),
    pytest.mark.filterwarnings("ignore::UserWarning"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]

ADMIN_TOKEN = "mgt_mlflow-compat-admin-token-0123456789"


class AddOne(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.Series:
        return model_input["x"] + 1


@dataclass
class Server:
    url: str
    log: Path

    def requests_to(self, endpoint: str) -> int:
        """How many requests to ``endpoint`` the access log shows, once it has stopped
        changing: gunicorn writes a line just after answering, and a retry (the client's,
        immediate under this test's settings) would land within the same moment. Only
        access lines count (the app logs each refusal too)."""
        count = -1
        path = f"/api/2.0/mlflow/{endpoint}"
        while True:
            seen = sum(
                1
                for line in self.log.read_text().splitlines()
                if path in line and " HTTP/1." in line
            )
            if seen == count:
                return count
            count = seen
            time.sleep(0.5)


@dataclass
class Registry:
    env: dict[str, str]
    workdir: Path
    viewer_token: str

    def serve(self, policies: str) -> Iterator[Server]:
        port = free_port()
        log = self.workdir / f"server-{port}.log"
        env = {**self.env, "MODELGATE_POLICY_PATH": policies}
        with served(port, env, self.workdir, log, "--workers", "2") as url:
            yield Server(url, log)


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def registry_db(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Registry]:
    """A migrated database of its own, with the admin token above and a viewer token."""
    workdir = tmp_path_factory.mktemp(f"mlflow-{request.param}")
    env = clean_env(
        MODELGATE_SECRET_KEY="mlflow-compat",
        MODELGATE_BOOTSTRAP_TOKEN=ADMIN_TOKEN,
        MODELGATE_ARTIFACT_ROOT=str(workdir / "artifacts"),
    )
    with contextlib.ExitStack() as stack:
        if request.param == "postgres":
            base = require_service(PG_URL, "PostgreSQL", "MODELGATE_TEST_DATABASE_URL")
            database = postgres_database(base, f"mgtest_mlflow_{os.getpid()}")
            env["MODELGATE_DATABASE_URL"] = stack.enter_context(database)
        else:
            env["MODELGATE_DATABASE_URL"] = f"sqlite:///{workdir / 'registry.db'}"
        viewer = ["token", "create", "--name", "viewer", "--role", "viewer"]
        for command in (["db", "upgrade"], viewer):
            done = subprocess.run(
                [MODELGATE, *command],
                env=env,
                cwd=workdir,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert done.returncode == 0, done.stderr
        yield Registry(env, workdir, viewer_token=done.stdout.strip())


@pytest.fixture(scope="module")
def open_server(registry_db: Registry) -> Iterator[Server]:
    yield from registry_db.serve(OPEN_POLICIES)


@pytest.fixture(scope="module")
def governed_server(registry_db: Registry) -> Iterator[Server]:
    yield from registry_db.serve(DEFAULT_POLICIES)


def use(monkeypatch: pytest.MonkeyPatch, server: Server, token: str) -> MlflowClient:
    """Configure the client as a user would: two environment variables."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", token)
    # Retries come quickly, so a 5xx shows up as repeated requests rather than a long wait.
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    return MlflowClient()


@pytest.fixture
def admin(monkeypatch: pytest.MonkeyPatch, open_server: Server) -> MlflowClient:
    return use(monkeypatch, open_server, ADMIN_TOKEN)


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("pyfunc") / "add-one"
    mlflow.pyfunc.save_model(str(path), python_model=AddOne())
    return str(path)


def unique(prefix: str) -> str:
    # Every test of a module shares one database: names keep them apart.
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_register_promote_and_load_a_pyfunc_model(admin, saved_model):
    name = unique("fraud")
    first = mlflow.register_model(saved_model, name)
    assert (first.version, first.status, first.current_stage) == ("1", "READY", "None")
    second = mlflow.register_model(saved_model, name)  # the model exists: a new version
    assert second.version == "2"

    admin.transition_model_version_stage(name, "1", "Production")
    admin.transition_model_version_stage(name, "2", "Staging")
    promoted = admin.transition_model_version_stage(
        name, "2", "production", archive_existing_versions=True
    )
    assert promoted.current_stage == "Production"
    stages = {v.version: v.current_stage for v in admin.get_latest_versions(name)}
    assert stages == {"1": "Archived", "2": "Production"}
    assert [v.version for v in admin.get_latest_versions(name, stages=["Archived"])] == ["1"]

    model = mlflow.pyfunc.load_model(f"models:/{name}/Production")
    predictions = model.predict(pd.DataFrame({"x": [1, 41]}))
    assert list(predictions) == [2, 42]
    latest = mlflow.pyfunc.load_model(f"models:/{name}/latest")
    assert list(latest.predict(pd.DataFrame({"x": [0]}))) == [1]


def test_aliases_tags_and_descriptions(admin, saved_model):
    name = unique("churn")
    admin.create_registered_model(name, tags={"team": "growth"}, description="churn model")
    for _ in range(2):
        admin.create_model_version(name, saved_model, tags={"auc": "0.91"})
    admin.set_registered_model_alias(name, "champion", "1")
    admin.set_registered_model_alias(name, "champion", 2)  # moves it
    assert admin.get_model_version_by_alias(name, "champion").version == "2"
    loaded = mlflow.pyfunc.load_model(f"models:/{name}@champion")
    assert list(loaded.predict(pd.DataFrame({"x": [1]}))) == [2]

    admin.set_registered_model_tag(name, "owner", "ana")
    admin.delete_registered_model_tag(name, "team")
    admin.set_model_version_tag(name, "1", "validated", "yes")
    admin.delete_model_version_tag(name, "1", "auc")
    admin.update_registered_model(name, description="predicts churn")
    admin.update_model_version(name, "2", description="retrained")
    model = admin.get_registered_model(name)
    assert model.tags == {"owner": "ana"}
    assert model.aliases == {"champion": "2"}
    assert model.description == "predicts churn"
    assert admin.get_model_version(name, "1").tags == {"validated": "yes"}
    assert admin.get_model_version(name, "2").description == "retrained"
    admin.delete_registered_model_alias(name, "champion")
    assert admin.get_registered_model(name).aliases == {}


def test_filtered_and_paginated_searches(admin, saved_model):
    team = unique("team")
    names = sorted(unique("search") for _ in range(5))
    for name in names:
        admin.create_registered_model(name, tags={"team": team})
        admin.create_model_version(name, saved_model, run_id=f"run-{name}")
    found = admin.search_registered_models(filter_string=f"tags.team = '{team}'")
    assert [m.name for m in found] == names
    assert found[0].latest_versions[0].version == "1"

    first = admin.search_registered_models(
        filter_string=f"tags.team = '{team}'", max_results=2, order_by=["name DESC"]
    )
    assert [m.name for m in first] == names[:-3:-1]
    second = admin.search_registered_models(
        filter_string=f"tags.team = '{team}'",
        max_results=2,
        order_by=["name DESC"],
        page_token=first.token,
    )
    assert [m.name for m in second] == names[-3:-5:-1]
    prefix = names[0][: len("search-") + 3]
    assert names[0] in [
        m.name for m in admin.search_registered_models(filter_string=f"name LIKE '{prefix}%'")
    ]
    versions = admin.search_model_versions(f"run_id = 'run-{names[2]}'")
    assert [(v.name, v.version) for v in versions] == [(names[2], "1")]
    mine = admin.search_model_versions(f"name IN ('{names[0]}', '{names[1]}')")
    assert sorted(v.name for v in mine) == names[:2]


def test_rename_delete_and_the_clients_error_handling(admin, saved_model, open_server):
    name = unique("old")
    admin.create_registered_model(name)
    admin.create_model_version(name, saved_model)
    before = open_server.requests_to("registered-models/create")
    with pytest.raises(MlflowException) as duplicate:
        admin.create_registered_model(name)
    assert duplicate.value.error_code == "RESOURCE_ALREADY_EXISTS"
    assert open_server.requests_to("registered-models/create") == before + 1  # not retried
    with pytest.raises(MlflowException) as missing:
        admin.get_registered_model(unique("missing"))
    assert missing.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MlflowException) as no_version:
        admin.get_model_version(name, "9")
    assert no_version.value.error_code == "RESOURCE_DOES_NOT_EXIST"

    new_name = unique("new")
    admin.rename_registered_model(name, new_name)
    assert admin.get_registered_model(new_name).latest_versions[0].name == new_name
    admin.delete_model_version(new_name, "1")
    admin.delete_registered_model(new_name)
    with pytest.raises(MlflowException) as gone:
        admin.get_registered_model(new_name)
    assert gone.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_a_viewer_reads_but_every_write_is_refused_once(
    monkeypatch, admin, open_server, registry_db, saved_model
):
    name = unique("viewed")
    admin.create_registered_model(name)
    admin.create_model_version(name, saved_model)
    viewer = use(monkeypatch, open_server, registry_db.viewer_token)
    assert viewer.get_registered_model(name).name == name
    assert [v.version for v in viewer.search_model_versions(f"name = '{name}'")] == ["1"]
    model = mlflow.pyfunc.load_model(f"models:/{name}/1")
    assert list(model.predict(pd.DataFrame({"x": [1]}))) == [2]

    writes = {
        "registered-models/create": lambda: viewer.create_registered_model(unique("mine")),
        "model-versions/create": lambda: viewer.create_model_version(name, saved_model),
        "registered-models/set-tag": lambda: viewer.set_registered_model_tag(name, "k", "v"),
        "registered-models/alias": lambda: viewer.set_registered_model_alias(name, "a", "1"),
        "model-versions/transition-stage": lambda: viewer.transition_model_version_stage(
            name, "1", "Staging"
        ),
        "registered-models/rename": lambda: viewer.rename_registered_model(name, unique("x")),
        "model-versions/delete": lambda: viewer.delete_model_version(name, "1"),
        "registered-models/delete": lambda: viewer.delete_registered_model(name),
    }
    for endpoint, write in writes.items():
        before = open_server.requests_to(endpoint)
        with pytest.raises(MlflowException) as refused:
            write()
        assert refused.value.error_code == "PERMISSION_DENIED", endpoint
        assert open_server.requests_to(endpoint) == before + 1, f"{endpoint} was retried"
    assert admin.get_registered_model(name).tags == {}


def test_default_policies_refuse_a_direct_move_to_production(
    monkeypatch, registry_db, governed_server, saved_model
):
    client = use(monkeypatch, governed_server, ADMIN_TOKEN)
    name = unique("governed")
    client.create_registered_model(name)
    client.create_model_version(name, saved_model)
    # Staging needs one approval, and an admin's own request counts as it: applied at once.
    assert client.transition_model_version_stage(name, "1", "Staging").current_stage == "Staging"
    before = governed_server.requests_to("model-versions/transition-stage")
    with pytest.raises(MlflowException) as refused:
        client.transition_model_version_stage(
            name, "1", "Production", archive_existing_versions=True
        )
    assert refused.value.error_code == "PERMISSION_DENIED"
    assert "Policy 'production'" in refused.value.message
    assert "transition-requests/create" in refused.value.message
    assert governed_server.requests_to("model-versions/transition-stage") == before + 1
    assert client.get_model_version(name, "1").current_stage == "Staging"


def test_model_files_stored_in_modelgate(admin, open_server, registry_db, tmp_path):
    """A team without a tracking server: upload through mlflow-artifacts, register, load."""
    name = unique("stored")
    # A model just saved: the module's shared one has been loaded from its path by now,
    # and the client writes a registered_model_meta file into what it loads.
    saved_model = str(tmp_path / "add-one")
    mlflow.pyfunc.save_model(saved_model, python_model=AddOne())
    admin.create_registered_model(name)
    repository = MlflowArtifactsRepository(f"mlflow-artifacts:/{name}/v1")
    repository.log_artifacts(saved_model)
    repository.log_artifacts(saved_model)  # an upload retried with the same bytes is fine
    assert "MLmodel" in [f.path for f in repository.list_artifacts()]
    version = admin.create_model_version(name, f"mlflow-artifacts:/{name}/v1")
    digest = version.tags["modelgate.digest"]
    assert digest.startswith("sha256:")
    assert admin.get_latest_versions(name)[0].tags["modelgate.digest"] == digest
    model = mlflow.pyfunc.load_model(f"models:/{name}/{version.version}")
    assert list(model.predict(pd.DataFrame({"x": [9]}))) == [10]
    # What a deploy pipeline does to check the download (the README's "Content digests").
    local = mlflow.artifacts.download_artifacts(f"models:/{name}/{version.version}")
    config = hashing.Config().set_ignored_paths(
        paths=["registered_model_meta"], ignore_git_paths=False
    )
    files = config.hash(local).resource_descriptors()
    computed = hashlib.sha256(b"".join(f.digest.digest_value for f in files)).hexdigest()
    assert f"sha256:{computed}" == digest


def test_stored_model_files_cannot_be_replaced(admin, saved_model, tmp_path):
    """The issue's attack, with the real client: log other bytes over an approved model."""
    name = unique("swap")
    admin.create_registered_model(name)
    MlflowArtifactsRepository(f"mlflow-artifacts:/{name}/v1").log_artifacts(saved_model)
    version = admin.create_model_version(name, f"mlflow-artifacts:/{name}/v1")
    admin.transition_model_version_stage(name, version.version, "Production")
    forged = tmp_path / "python_model.pkl"
    forged.write_bytes(b"not the approved model")
    with pytest.raises(requests.HTTPError) as refused:
        MlflowArtifactsRepository(f"mlflow-artifacts:/{name}/v1").log_artifact(str(forged))
    assert refused.value.response.status_code == 409
    assert refused.value.response.json()["error_code"] == "RESOURCE_ALREADY_EXISTS"
    model = mlflow.pyfunc.load_model(f"models:/{name}/Production")
    assert list(model.predict(pd.DataFrame({"x": [1]}))) == [2]


def mint(registry_db: Registry, name: str, *roles: str) -> str:
    done = subprocess.run(
        [MODELGATE, "token", "create", "--name", name, "--owner", f"user:{name}"]
        + [f"--role={r}" for r in roles],
        env=registry_db.env,
        cwd=registry_db.workdir,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_default_policies_govern_aliases_from_the_mlflow_client(
    monkeypatch, registry_db, governed_server, saved_model
):
    """What a deploy pipeline loads through models:/NAME@champion is what two approvers
    admitted to Production: a contributor cannot move the alias, nobody can point it at
    another version or take it away alone."""
    tag = uuid.uuid4().hex[:6]
    contributor = mint(registry_db, f"dev-{tag}", "contributor")
    lead = mint(registry_db, f"lead-{tag}", "contributor", "approver")
    approvers = [mint(registry_db, f"approver-{n}-{tag}", "approver") for n in (1, 2)]
    client = use(monkeypatch, governed_server, ADMIN_TOKEN)
    name = unique("aliased")
    client.create_registered_model(name)
    client.create_model_version(name, saved_model)
    client.create_model_version(name, saved_model)
    client.transition_model_version_stage(name, "1", "Staging")
    request = requests.post(
        f"{governed_server.url}/api/v1/models/{name}/versions/1/transitions",
        json={"to_stage": "Production"},
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        timeout=30,
    ).json()
    for token in approvers:
        approved = requests.post(
            f"{governed_server.url}/api/v1/transition-requests/{request['id']}/approve",
            json={},
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        assert approved.status_code == 200, approved.text
    assert client.get_model_version(name, "1").current_stage == "Production"

    mine = use(monkeypatch, governed_server, contributor)
    before = governed_server.requests_to("registered-models/alias")
    with pytest.raises(MlflowException) as refused:
        mine.set_registered_model_alias(name, "champion", "1")
    assert refused.value.error_code == "PERMISSION_DENIED"
    assert governed_server.requests_to("registered-models/alias") == before + 1  # not retried

    for token in (lead, ADMIN_TOKEN):
        with pytest.raises(MlflowException) as elsewhere:
            use(monkeypatch, governed_server, token).set_registered_model_alias(
                name, "champion", "2"
            )
        assert elsewhere.value.error_code == "PERMISSION_DENIED"
        assert "may point only at a version in Production" in elsewhere.value.message

    use(monkeypatch, governed_server, lead).set_registered_model_alias(name, "champion", "1")
    model = mlflow.pyfunc.load_model(f"models:/{name}@champion")
    assert list(model.predict(pd.DataFrame({"x": [2]}))) == [3]
    with pytest.raises(MlflowException) as removal:
        use(monkeypatch, governed_server, ADMIN_TOKEN).delete_registered_model_alias(
            name, "champion"
        )
    assert removal.value.error_code == "PERMISSION_DENIED"
    assert client.get_model_version_by_alias(name, "champion").version == "1"
