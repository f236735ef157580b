"""The Helm chart, rendered by a real helm and read back: what a cluster would be given.

helm comes from .ci/install-helm (`make helm`, which `make test` runs); the manifests are
validated offline against the Kubernetes schemas of the oldest and newest versions the
chart supports. Without helm these tests skip on a developer's machine and fail in CI.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from registry import config
from registry.cli import main as cli
from tests.conftest import ROOT, require_service

CHART = ROOT / "helm" / "modelgate"
PRODUCTION = CHART / "values-production.yaml"
RELEASE = "mg"
KUBERNETES_VERSIONS = ("1.27", "1.37")  # Chart.yaml's kubeVersion floor, and the newest
MANAGED_SECRET = (
    "--set",
    "secrets.existingSecret=",
    "--set",
    "secrets.databaseUrl=postgresql://modelgate:pw@db:5432/modelgate",
    "--set",
    "secrets.secretKey=not-a-real-key",
    "--set",
    "secrets.redisUrl=redis://redis:6379/0",
)


def _find_helm() -> str | None:
    return os.environ.get("MODELGATE_TEST_HELM") or shutil.which(
        "helm", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    )


@pytest.fixture(scope="session")
def helm() -> str:
    return require_service(
        _find_helm(), "the helm binary (`make helm` installs it)", "MODELGATE_TEST_HELM"
    )


def run_helm(helm: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - the helm binary the tests were given
        [helm, *args], capture_output=True, text=True, timeout=60
    )


def render(helm: str, *args: str, chart: Path = CHART) -> list[dict[str, Any]]:
    result = run_helm(helm, "template", RELEASE, str(chart), *args)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.fixture(scope="session")
def default(helm: str) -> list[dict[str, Any]]:
    return render(helm)


@pytest.fixture(scope="session")
def production(helm: str) -> list[dict[str, Any]]:
    return render(helm, "-f", str(PRODUCTION))


@pytest.fixture(scope="session")
def managed(helm: str) -> list[dict[str, Any]]:
    return render(helm, *MANAGED_SECRET)


def kinds(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def one(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    return kinds(docs, kind)[f"{RELEASE}-modelgate{name}"]


def pod_templates(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        f"{d['kind']}/{d['metadata']['name']}": d["spec"]["template"]
        for d in docs
        if d["kind"] in ("Deployment", "Job")
    }


def container(docs: list[dict[str, Any]], name: str) -> dict[str, Any]:
    kind = "Job" if name == "migrate" else "Deployment"
    (found,) = one(docs, kind, f"-{name}")["spec"]["template"]["spec"]["containers"]
    return found


def env_of(c: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e.get("value") for e in c.get("env", [])}


# --------------------------------------------------------------------------- lint, validate


@pytest.mark.parametrize("values", [(), ("-f", str(PRODUCTION))], ids=["default", "production"])
def test_helm_lint_strict(helm, values):
    result = run_helm(helm, "lint", "--strict", str(CHART), *values)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 chart(s) failed" in result.stdout


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("rendering", ["default", "production", "managed"])
def test_the_manifests_validate_against_the_kubernetes_schemas(request, rendering, version):
    docs = request.getfixturevalue(rendering)
    checked = 0
    for doc in docs:
        if doc["apiVersion"].startswith("monitoring.coreos.com/"):
            continue  # a CRD: no Kubernetes schema; its shape is checked below
        kubernetes_validate.validate(doc, version, strict=True)
        checked += 1
    assert checked >= 6


def test_strict_validation_would_catch_a_misspelt_field(default):
    broken = copy.deepcopy(one(default, "Deployment", "-api"))
    probe = broken["spec"]["template"]["spec"]["containers"][0].pop("livenessProbe")
    broken["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = probe
    with pytest.raises(kubernetes_validate.ValidationError, match="livenesProbe"):
        kubernetes_validate.validate(broken, KUBERNETES_VERSIONS[-1], strict=True)


@pytest.mark.parametrize(
    ("setting", "complaint"),
    [
        ("api.replicas=-1", "at '/api/replicas': minimum"),
        ("image.pullPolicy=Sometimes", "at '/image/pullPolicy'"),
        ("api.replcas=3", "additional properties 'replcas' not allowed"),
        ("secrets.databaseUrl=mysql://db/modelgate", "at '/secrets/databaseUrl'"),
        ("metrics.serviceMonitor.interval=soon", "at '/metrics/serviceMonitor/interval'"),
    ],
)
def test_the_values_schema_refuses_a_wrong_value_at_install_time(helm, setting, complaint):
    result = run_helm(helm, "template", RELEASE, str(CHART), "--set", setting)
    assert result.returncode != 0
    assert "don't meet the specifications of the schema" in result.stderr
    assert complaint in result.stderr


# --------------------------------------------------------------------------- migrations


def test_migrations_run_as_a_hook_before_install_and_upgrade(default):
    job = one(default, "Job", "-migrate")
    annotations = job["metadata"]["annotations"]
    assert annotations["helm.sh/hook"] == "pre-install,pre-upgrade"
    # Deleted once it succeeds; a failed one stays to be read until the next attempt.
    assert annotations["helm.sh/hook-delete-policy"] == "before-hook-creation,hook-succeeded"
    assert container(default, "migrate")["command"] == ["modelgate", "db", "upgrade"]
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    # No serving process migrates: the API runs the image's gunicorn, the others Celery.
    for name in ("api", "worker", "beat"):
        assert "upgrade" not in container(default, name).get("command", [])


def test_an_existing_secret_is_used_everywhere_and_not_created(default):
    assert set(kinds(default, "Secret")) == {f"{RELEASE}-modelgate-bootstrap"}
    for template in pod_templates(default).values():
        for c in template["spec"]["containers"]:
            assert c["envFrom"] == [{"secretRef": {"name": "modelgate"}}]


def test_the_charts_own_secret_exists_before_the_migration_job(managed):
    secret = one(managed, "Secret", "-env")
    job = one(managed, "Job", "-migrate")
    hook = secret["metadata"]["annotations"]
    assert hook["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert int(hook["helm.sh/hook-weight"]) < int(
        job["metadata"]["annotations"]["helm.sh/hook-weight"]
    )
    assert secret["stringData"] == {
        "MODELGATE_DATABASE_URL": "postgresql://modelgate:pw@db:5432/modelgate",
        "MODELGATE_SECRET_KEY": "not-a-real-key",
        "MODELGATE_REDIS_URL": "redis://redis:6379/0",
    }
    assert container(managed, "migrate")["envFrom"] == [
        {"secretRef": {"name": secret["metadata"]["name"]}}
    ]
    # The pods roll when the Secret's content changes.
    annotations = one(managed, "Deployment", "-api")["spec"]["template"]["metadata"]
    assert "checksum/secret" in annotations["annotations"]


# --------------------------------------------------------------------------- first admin token

LONG_RUNNING = ("api", "worker", "beat")
CHOSEN = "mgt_chosen-bootstrap-token-0123456789abcdef"  # noqa: S105 - a rendering's


def bootstrap_refs(c: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        e["valueFrom"]["secretKeyRef"]
        for e in c.get("env", [])
        if e["name"] == "MODELGATE_BOOTSTRAP_TOKEN" and "valueFrom" in e
    ]


@pytest.mark.parametrize("rendering", ["default", "managed", "production"])
def test_the_first_admin_token_reaches_the_migration_job_alone(request, rendering):
    """From the bootstrap Secret into the job, with an expiry; blanked in every long-running
    pod, so one left in an existing Secret (read with envFrom) never reaches them."""
    docs = request.getfixturevalue(rendering)
    job = container(docs, "migrate")
    assert bootstrap_refs(job) == [
        {"name": f"{RELEASE}-modelgate-bootstrap", "key": "MODELGATE_BOOTSTRAP_TOKEN"}
    ]
    assert env_of(job)["MODELGATE_BOOTSTRAP_TOKEN_TTL"] == "24h"
    for name in LONG_RUNNING:
        if f"{RELEASE}-modelgate-{name}" not in kinds(docs, "Deployment"):
            continue
        c = container(docs, name)
        assert bootstrap_refs(c) == []
        assert env_of(c)["MODELGATE_BOOTSTRAP_TOKEN"] == ""
        assert "MODELGATE_BOOTSTRAP_TOKEN_TTL" not in env_of(c)
    for secret in kinds(docs, "Secret").values():
        if secret["metadata"]["name"] != f"{RELEASE}-modelgate-bootstrap":
            assert "MODELGATE_BOOTSTRAP_TOKEN" not in secret["stringData"]


def test_the_chart_makes_a_random_first_token_in_a_secret_before_the_job(helm, default):
    secret = one(default, "Secret", "-bootstrap")
    token = secret["stringData"]["MODELGATE_BOOTSTRAP_TOKEN"]
    assert token.startswith("mgt_")
    assert len(token) >= 32
    again = one(render(helm), "Secret", "-bootstrap")["stringData"]["MODELGATE_BOOTSTRAP_TOKEN"]
    assert again != token  # random (an install or upgrade keeps the one it has: lookup)
    hook = secret["metadata"]["annotations"]
    assert hook["helm.sh/hook"] == "pre-install,pre-upgrade"
    job = one(default, "Job", "-migrate")["metadata"]["annotations"]
    assert int(hook["helm.sh/hook-weight"]) < int(job["helm.sh/hook-weight"])


def test_a_chosen_first_token_goes_in_the_bootstrap_secret_only(helm):
    docs = render(helm, *MANAGED_SECRET, "--set", f"secrets.bootstrapToken={CHOSEN}")
    assert one(docs, "Secret", "-bootstrap")["stringData"] == {"MODELGATE_BOOTSTRAP_TOKEN": CHOSEN}
    assert "MODELGATE_BOOTSTRAP_TOKEN" not in one(docs, "Secret", "-env")["stringData"]
    for template in pod_templates(docs).values():
        assert CHOSEN not in yaml.safe_dump(template)


def test_a_bootstrap_secret_of_your_own_is_read_by_the_job_and_not_created(helm):
    docs = render(
        helm,
        "--set",
        "bootstrap.existingSecret=first-admin",
        "--set",
        "bootstrap.secretKey=token",
        "--set",
        "bootstrap.ttl=7d",
    )
    assert kinds(docs, "Secret") == {}
    job = container(docs, "migrate")
    assert bootstrap_refs(job) == [{"name": "first-admin", "key": "token"}]
    assert env_of(job)["MODELGATE_BOOTSTRAP_TOKEN_TTL"] == "7d"


@pytest.mark.parametrize(
    ("setting", "complaint"),
    [
        (
            "secrets.extra.MODELGATE_BOOTSTRAP_TOKEN=x",
            "invalid propertyName 'MODELGATE_BOOTSTRAP_TOKEN'",
        ),
        ("bootstrap.ttl=forever", "at '/bootstrap/ttl'"),
        ("secrets.bootstrapToken=short-chosen-token", "at '/secrets/bootstrapToken'"),
    ],
)
def test_the_first_token_cannot_be_put_where_every_pod_reads_it(helm, setting, complaint):
    result = run_helm(helm, "template", RELEASE, str(CHART), "--set", setting)
    assert result.returncode != 0
    assert complaint in result.stderr


def test_the_charts_own_secret_needs_a_database_url(helm):
    result = run_helm(helm, "template", RELEASE, str(CHART), "--set", "secrets.existingSecret=")
    assert result.returncode != 0
    assert "secrets.databaseUrl is required" in result.stderr


# --------------------------------------------------------------------------- two roles

TWO_ROLES = (
    "--set",
    "secrets.migrationDatabaseUrl=postgresql://owner:pw@db:5432/modelgate",
    "--set",
    "migrations.appRole=modelgate_app",
)


def test_the_migration_job_alone_connects_as_the_schema_owner(helm):
    docs = render(helm, *MANAGED_SECRET, *TWO_ROLES)
    secrets = kinds(docs, "Secret")
    owner_secret = secrets[f"{RELEASE}-modelgate-migrate"]
    assert owner_secret["stringData"] == {
        "MODELGATE_DATABASE_URL": "postgresql://owner:pw@db:5432/modelgate"
    }
    # Made before the job, like the main Secret.
    assert int(owner_secret["metadata"]["annotations"]["helm.sh/hook-weight"]) < 0
    pods_secret = secrets[f"{RELEASE}-modelgate-env"]
    assert "owner" not in json.dumps(pods_secret)
    job = container(docs, "migrate")
    entries = {e["name"]: e for e in job["env"]}
    assert entries["MODELGATE_DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {
        "name": f"{RELEASE}-modelgate-migrate",
        "key": "MODELGATE_DATABASE_URL",
    }
    assert entries["MODELGATE_DATABASE_APP_ROLE"]["value"] == "modelgate_app"
    # No long-running pod can read the owner's URL.
    for name in ("api", "worker", "beat"):
        assert f"{RELEASE}-modelgate-migrate" not in json.dumps(container(docs, name))
        assert "MODELGATE_DATABASE_APP_ROLE" not in env_of(container(docs, name))
    for version in KUBERNETES_VERSIONS:
        for doc in docs:
            if not doc["apiVersion"].startswith("monitoring.coreos.com/"):
                kubernetes_validate.validate(doc, version, strict=True)


def test_an_existing_migration_secret_is_named_not_made(helm):
    docs = render(
        helm,
        "--set",
        "secrets.existingMigrationSecret=modelgate-owner",
        "--set",
        "migrations.appRole=modelgate_app",
    )
    # No migration Secret is made (only the first admin token's, which the chart always keeps).
    assert [name for name in kinds(docs, "Secret") if not name.endswith("-bootstrap")] == []
    entries = {e["name"]: e for e in container(docs, "migrate")["env"]}
    assert entries["MODELGATE_DATABASE_URL"]["valueFrom"]["secretKeyRef"]["name"] == (
        "modelgate-owner"
    )


def test_one_url_for_both_stays_the_default(default):
    assert "MODELGATE_DATABASE_URL" not in env_of(container(default, "migrate"))


def test_a_migration_url_needs_the_app_role_it_grants(helm):
    result = run_helm(
        helm,
        "template",
        RELEASE,
        str(CHART),
        "--set",
        "secrets.migrationDatabaseUrl=postgresql://owner:pw@db/modelgate",
    )
    assert result.returncode != 0
    assert "migrations.appRole is required" in result.stderr


def test_the_audit_signing_key_goes_in_the_charts_secret(helm):
    pem = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n"
    docs = render(helm, *MANAGED_SECRET, "--set-string", f"secrets.auditSigningKey={pem}")
    (secret,) = [s for name, s in kinds(docs, "Secret").items() if not name.endswith("-bootstrap")]
    assert secret["stringData"]["MODELGATE_AUDIT_SIGNING_KEY"] == pem


# --------------------------------------------------------------------------- pods


def test_the_api_is_probed_on_healthz_and_readyz_and_drains_before_stopping(default):
    api = container(default, "api")
    (port,) = api["ports"]
    assert (port["name"], port["containerPort"]) == ("http", 8080)
    assert api["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert api["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert api["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    pause = int(api["lifecycle"]["preStop"]["exec"]["command"][1])
    grace = one(default, "Deployment", "-api")["spec"]["template"]["spec"][
        "terminationGracePeriodSeconds"
    ]
    assert grace > pause + 30  # gunicorn's graceful_timeout after the pause
    assert env_of(api)["PORT"] == "8080"
    strategy = one(default, "Deployment", "-api")["spec"]["strategy"]["rollingUpdate"]
    assert strategy["maxUnavailable"] == 0


@pytest.mark.parametrize("rendering", ["default", "production"])
def test_every_pod_runs_locked_down(request, rendering):
    templates = pod_templates(request.getfixturevalue(rendering))
    assert len(templates) == 4  # api, worker, beat, migrate
    for where, template in templates.items():
        spec = template["spec"]
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True, where
        assert pod["runAsUser"] != 0, where
        assert pod["seccompProfile"] == {"type": "RuntimeDefault"}, where
        assert spec["automountServiceAccountToken"] is False, where
        volumes = {v["name"]: v for v in spec["volumes"]}
        for c in spec["containers"]:
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True, where
            assert sc["allowPrivilegeEscalation"] is False, where
            assert sc["capabilities"] == {"drop": ["ALL"]}, where
            assert set(c["resources"]) == {"requests", "limits"}, where
            tmp = [m for m in c["volumeMounts"] if m["mountPath"] == "/tmp"]
            assert tmp, f"{where}: a read-only root needs a writable /tmp"
            assert "emptyDir" in volumes[tmp[0]["name"]], where


def test_the_api_shares_metrics_between_its_processes_through_an_emptydir(default):
    api = container(default, "api")
    directory = env_of(api)["PROMETHEUS_MULTIPROC_DIR"]
    (mount,) = [m for m in api["volumeMounts"] if m["mountPath"] == directory]
    volumes = one(default, "Deployment", "-api")["spec"]["template"]["spec"]["volumes"]
    assert "emptyDir" in {v["name"]: v for v in volumes}[mount["name"]]


def test_worker_and_a_single_beat_run_celery_and_can_be_turned_off(helm, default):
    assert container(default, "worker")["command"] == ["modelgate", "worker"]
    beat = one(default, "Deployment", "-beat")
    assert beat["spec"]["replicas"] == 1
    assert beat["spec"]["strategy"] == {"type": "Recreate"}  # never two beats in a rollout
    beat_container = container(default, "beat")
    assert beat_container["command"] == ["modelgate", "beat"]
    # Celery beat writes its schedule state in the working directory: a writable mount.
    mounts = {m["mountPath"] for m in beat_container["volumeMounts"]}
    assert beat_container["workingDir"] in mounts
    off = render(helm, "--set", "worker.enabled=false", "--set", "beat.enabled=false")
    assert set(kinds(off, "Deployment")) == {f"{RELEASE}-modelgate-api"}
    assert f"{RELEASE}-modelgate-worker" not in kinds(off, "PodDisruptionBudget")


def test_production_scales_the_api_and_keeps_disruption_budgets(production):
    hpa = one(production, "HorizontalPodAutoscaler", "-api")
    assert hpa["spec"]["scaleTargetRef"]["name"] == f"{RELEASE}-modelgate-api"
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (3, 12)
    assert "replicas" not in one(production, "Deployment", "-api")["spec"]  # the HPA owns it
    budgets = kinds(production, "PodDisruptionBudget")
    assert set(budgets) == {f"{RELEASE}-modelgate-api", f"{RELEASE}-modelgate-worker"}
    assert all(b["spec"]["maxUnavailable"] == 1 for b in budgets.values())


def test_production_monitoring_ingress_and_network_policies(production):
    (monitor,) = kinds(production, "ServiceMonitor").values()
    (endpoint,) = monitor["spec"]["endpoints"]
    assert (endpoint["port"], endpoint["path"]) == ("http", "/metrics")
    assert endpoint["authorization"]["credentials"] == {
        "name": "modelgate-production",
        "key": "MODELGATE_METRICS_TOKEN",
    }
    service = one(production, "Service", "")
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    ingress = one(production, "Ingress", "")
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": service["metadata"]["name"], "port": {"name": "http"}}
    policies = kinds(production, "NetworkPolicy")
    background = policies[f"{RELEASE}-modelgate-background"]["spec"]
    assert background["ingress"] == []  # the worker, beat and migration serve nothing
    assert "Egress" in background["policyTypes"]


# --------------------------------------------------------------------------- policies


def test_the_policies_configmap_is_the_repositorys_policies_mounted_where_the_app_looks(
    default,
):
    configmap = one(default, "ConfigMap", "-policies")
    shipped = {p.name: p.read_text() for p in (ROOT / "policies").glob("*.yaml")}
    assert configmap["data"] == shipped
    for name in ("api", "worker", "beat"):
        c = container(default, name)
        (mount,) = [m for m in c["volumeMounts"] if m["name"] == "policies"]
        assert env_of(c)["MODELGATE_POLICY_PATH"] == mount["mountPath"]
        assert mount["readOnly"] is True


def checksums(docs: list[dict[str, Any]]) -> set[str]:
    return {
        d["spec"]["template"]["metadata"]["annotations"]["checksum/policies"]
        for d in kinds(docs, "Deployment").values()
    }


def test_a_policy_change_rolls_the_pods(helm, default, tmp_path):
    (before,) = checksums(default)  # the same on the api, worker and beat
    assert checksums(render(helm)) == {before}  # stable when nothing changed

    chart = tmp_path / "modelgate"
    shutil.copytree(CHART, chart)  # follows the policies/ link: a real copy to edit
    policy = chart / "policies" / "default.yaml"
    policy.write_text(policy.read_text().replace("expire_after: 14d", "expire_after: 10d"))
    (edited,) = checksums(render(helm, chart=chart))
    assert edited != before

    (given,) = checksums(render(helm, "--set-string", "policies.files.only\\.yaml=policies: []"))
    assert given not in (before, edited)


# --------------------------------------------------------------------------- in step


def test_every_modelgate_variable_the_chart_sets_is_a_setting(managed):
    declared = {s.env for s in config.SETTINGS}
    names = set()
    for secret in kinds(managed, "Secret").values():
        names |= set(secret["stringData"])
    for template in pod_templates(managed).values():
        for c in template["spec"]["containers"]:
            names |= set(env_of(c))
    assert {n for n in names if n.startswith("MODELGATE_")} - declared == set()


def test_the_chart_runs_commands_the_cli_has(default):
    for name in ("migrate", "worker", "beat"):
        program, *words = container(default, name)["command"]
        assert program == "modelgate"
        group: Any = cli
        for word in words:
            group = group.commands[word]


# Values documented as one object rather than key by key.
WHOLE = ("resources", "config", "podSecurityContext", "containerSecurityContext")


def leaf_keys(values: dict[str, Any], prefix: str = "") -> set[str]:
    keys = set()
    for key, value in values.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value and key not in WHOLE:
            if key.endswith("Probe"):
                keys.add(path)
            else:
                keys |= leaf_keys(value, f"{path}.")
        else:
            keys.add(path)
    return keys


def test_the_chart_readme_documents_every_value():
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    documented = set(re.findall(r"^\| `([\w.]+)` \|", (CHART / "README.md").read_text(), re.M))
    assert leaf_keys(values) - documented == set()
    assert documented - leaf_keys(values) == set()
