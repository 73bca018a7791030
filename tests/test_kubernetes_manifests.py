"""deploy/kubernetes/: every manifest validated against the Kubernetes API schemas of a pinned
version (kubernetes-validate ships them; nothing is downloaded), then what matters checked
against the project itself: the probes ask routes the app answers, one worker Deployment per
queue with `make run`'s command line, one beat that is never two, the migration Job, pods that
run as the image's user on a read-only root, and no secret in the ConfigMap. No cluster runs
here: nothing is applied.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import yaml
from flask.testing import FlaskClient

from dashboard import config
from dashboard.auth.hardening import MIN_SECRET_KEY_CHARS, check_production_settings
from dashboard.ops.local_stack import beat_command, worker_command
from dashboard.sending.queues import QUEUES

ROOT = Path(__file__).resolve().parent.parent
MANIFESTS = ROOT / "deploy" / "kubernetes"
# The oldest minor version the managed clusters (GKE, EKS, AKS) still offered when this was pinned;
# the schemas of every later version accept these manifests too (checked below).
KUBERNETES_VERSION = "1.31.0"
SECRET_EXAMPLE = "secret.example.yaml"
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1", "0.0.0.0", ""}
CREDENTIAL_NAME = re.compile(r"SECRET|PASSWORD|TOKEN|KEY|CREDENTIAL", re.IGNORECASE)


def load(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def manifest_files() -> list[Path]:
    return sorted(p for p in MANIFESTS.glob("*.yaml") if p.name != "kustomization.yaml")


@pytest.fixture(scope="module")
def resources() -> dict[tuple[str, str], dict[str, Any]]:
    """Every object of every manifest, by (kind, name)."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for path in manifest_files():
        for doc in load(path):
            key = (doc["kind"], doc["metadata"]["name"])
            assert key not in found, f"{key} defined twice"
            found[key] = doc
    return found


@pytest.fixture(scope="module")
def kustomization() -> dict[str, Any]:
    return yaml.safe_load((MANIFESTS / "kustomization.yaml").read_text())


def of_kind(resources: dict[tuple[str, str], dict[str, Any]], kind: str) -> dict[str, Any]:
    return {name: doc for (k, name), doc in resources.items() if k == kind}


def pod_specs(resources: dict[tuple[str, str], dict[str, Any]]) -> Iterator[tuple[str, dict]]:
    for (kind, name), doc in resources.items():
        if kind in {"Deployment", "Job"}:
            yield name, doc["spec"]["template"]["spec"]


def main_container(doc: dict[str, Any]) -> dict[str, Any]:
    (container,) = doc["spec"]["template"]["spec"]["containers"]
    return container


def documented_settings() -> set[str]:
    text = (ROOT / ".env.example").read_text()
    return set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", text, re.MULTILINE))


@pytest.mark.parametrize("path", manifest_files(), ids=lambda p: p.name)
def test_every_manifest_is_valid_for_the_pinned_kubernetes(path: Path) -> None:
    documents = load(path)
    assert documents, f"{path.name} is empty"
    for doc in documents:
        # strict: an unknown (misspelt) field is an error, as `kubectl apply` would make it.
        for version in (KUBERNETES_VERSION, kubernetes_validate.latest_version()):
            kubernetes_validate.validate(doc, version, strict=True)


def test_the_validator_rejects_what_a_cluster_would() -> None:
    """The check above can fail: a misspelt field and a wrong type are both refused."""
    (beat,) = load(MANIFESTS / "beat.yaml")
    misspelt = {**beat, "spec": {**beat["spec"], "replica": 1}}
    wrong_type = {**beat, "spec": {**beat["spec"], "replicas": "one"}}
    for broken in (misspelt, wrong_type):
        with pytest.raises(kubernetes_validate.ValidationError):
            kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_the_kustomization_applies_every_manifest_but_the_secret(
    kustomization: dict[str, Any], resources: dict[tuple[str, str], dict[str, Any]]
) -> None:
    names = {p.name for p in manifest_files()}
    # `kubectl apply -k` must never overwrite the real Secret with the placeholders.
    assert sorted(kustomization["resources"]) == sorted(names - {SECRET_EXAMPLE})
    (image,) = kustomization["images"]
    assert image["newTag"] != "latest"
    for name, spec in pod_specs(resources):
        for container in [*spec.get("initContainers", []), *spec["containers"]]:
            repository, _, tag = container["image"].rpartition(":")
            assert repository == image["name"], (name, container["name"])
            assert tag and "/" not in tag and tag != "latest", (name, container["image"])


def test_every_pod_runs_as_the_images_user_on_a_read_only_root(
    resources: dict[tuple[str, str], dict[str, Any]],
) -> None:
    uid = int(re.search(r"useradd .*--uid (\d+)", (ROOT / "Dockerfile").read_text()).group(1))
    for name, spec in pod_specs(resources):
        context = spec["securityContext"]
        assert context["runAsNonRoot"] is True and context["runAsUser"] == uid != 0, name
        assert spec["automountServiceAccountToken"] is False, name
        volumes = {v["name"] for v in spec["volumes"]}
        for container in [*spec.get("initContainers", []), *spec["containers"]]:
            where = (name, container["name"])
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True, where
            assert security["allowPrivilegeEscalation"] is False, where
            assert security["capabilities"]["drop"] == ["ALL"], where
            for bound in ("requests", "limits"):
                assert set(container["resources"][bound]) == {"cpu", "memory"}, where
            # The only places the app writes: INSTANCE_DIR (beat's schedule) and /tmp.
            mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
            assert set(mounts) == {"/data", "/tmp"} and set(mounts.values()) <= volumes, where
            assert [e["configMapRef"]["name"] for e in container["envFrom"][:1]] == [
                "dispatcher-config"
            ]
            assert container["envFrom"][1]["secretRef"]["name"] == "dispatcher-secrets", where


def test_settings_are_documented_and_no_secret_is_in_the_configmap(
    resources: dict[tuple[str, str], dict[str, Any]],
) -> None:
    (configmap,) = of_kind(resources, "ConfigMap").values()
    (secret,) = load(MANIFESTS / SECRET_EXAMPLE)
    documented = documented_settings()
    assert set(configmap["data"]) <= documented, set(configmap["data"]) - documented
    assert set(secret["stringData"]) <= documented, set(secret["stringData"]) - documented
    assert configmap["data"]["INSTANCE_DIR"] == "/data"
    for key, value in configmap["data"].items():
        assert not CREDENTIAL_NAME.search(key), key
        assert not key.endswith("_URL") or "@" not in value, key  # no user:password@ in a URL
    assert {"SECRET_KEY", "DATABASE_URL", "MAIL_PASSWORD"} <= set(secret["stringData"])
    applied = yaml.safe_load((MANIFESTS / "kustomization.yaml").read_text())["resources"]
    kinds = {doc["kind"] for name in applied for doc in load(MANIFESTS / name)}
    assert "Secret" not in kinds, "the Secret is made by hand from secret.example.yaml"


def test_the_secret_example_holds_placeholders_the_app_refuses(
    resources: dict[tuple[str, str], dict[str, Any]],
) -> None:
    (secret,) = load(MANIFESTS / SECRET_EXAMPLE)
    values = secret["stringData"]
    for key in ("SECRET_KEY", "MAIL_PASSWORD"):
        assert values[key] == "CHANGE-ME", key
    for key in ("DATABASE_URL", "REDIS_URL"):
        assert urlsplit(values[key]).password == "CHANGE-ME", key
    # Applied as is, the production app refuses the placeholder key instead of signing with it.
    assert len(values["SECRET_KEY"]) < MIN_SECRET_KEY_CHARS
    (configmap,) = of_kind(resources, "ConfigMap").values()
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        check_production_settings(
            {"APP_ENV": configmap["data"]["APP_ENV"], "SECRET_KEY": values["SECRET_KEY"]}
        )


def test_the_pods_settings_point_at_real_servers_not_loopback(
    resources: dict[tuple[str, str], dict[str, Any]], tmp_path: Path
) -> None:
    """What dashboard/config.py makes of the ConfigMap and the Secret together (the image holds
    no .env): every server is the managed one named there, none is the pod's own loopback."""
    (configmap,) = of_kind(resources, "ConfigMap").values()
    (secret,) = load(MANIFESTS / SECRET_EXAMPLE)
    environment = {**configmap["data"], **secret["stringData"]}
    with (
        mock.patch.dict(os.environ, environment, clear=True),
        mock.patch.object(config, "INSTANCE_DIR", tmp_path),
    ):
        settings = config.load_settings()
    urls = [
        settings["SQLALCHEMY_DATABASE_URI"],
        settings["CELERY"]["broker_url"],
        settings["CELERY"]["result_backend"],
        settings["REDIS_URL"],
        settings["RATE_LIMIT_REDIS_URL"],
    ]
    hosts = {urlsplit(url).hostname for url in urls} | {settings["MAIL_SERVER"]}
    assert not hosts & LOOPBACK_HOSTS, hosts
    assert settings["SQLALCHEMY_DATABASE_URI"].startswith("postgresql+psycopg://")
    assert settings["APP_ENV"] == "production" and settings["SESSION_COOKIE_SECURE"]


def test_web_probes_ask_the_health_routes_on_the_served_port(
    resources: dict[tuple[str, str], dict[str, Any]],
) -> None:
    web = resources[("Deployment", "dispatcher-web")]
    container = main_container(web)
    (port,) = container["ports"]
    command = container["command"]
    assert command[0] == "gunicorn" and "wsgi:app" in command
    assert command[command.index("--bind") + 1] == f"0.0.0.0:{port['containerPort']}"
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": port["name"]}
    assert container["readinessProbe"]["httpGet"] == {
        "path": "/readyz?needs=database,broker",
        "port": port["name"],
    }
    # /readyz gives each check 2 s, in parallel: the probe waits longer than that.
    assert container["readinessProbe"]["timeoutSeconds"] > 2
    service = resources[("Service", "dispatcher-web")]
    assert service["spec"]["selector"] == web["spec"]["template"]["metadata"]["labels"]
    assert [p["targetPort"] for p in service["spec"]["ports"]] == [port["name"]]


def test_the_probed_routes_answer_200_without_a_login(anonymous_client: FlaskClient) -> None:
    # A kubelet counts any 2xx or 3xx as healthy: a redirect to the sign-in page would be a
    # probe that can never fail, so the answer must be the route's own 200.
    healthz = anonymous_client.get("/healthz")
    assert (healthz.status_code, healthz.json) == (200, {"status": "ok"})
    readyz = anonymous_client.get("/readyz?needs=database,broker")
    assert readyz.status_code == 200, readyz.json
    assert readyz.json["status"] == "ready"


def test_selectors_match_their_pods(resources: dict[tuple[str, str], dict[str, Any]]) -> None:
    for name, doc in of_kind(resources, "Deployment").items():
        labels = doc["spec"]["template"]["metadata"]["labels"]
        assert doc["spec"]["selector"]["matchLabels"].items() <= labels.items(), name


def celery_role(doc: dict[str, Any]) -> str | None:
    command = main_container(doc)["command"]
    return command[3] if command[:3] == ["celery", "-A", "celery_worker"] else None


def test_one_worker_deployment_per_queue_with_make_runs_command(
    resources: dict[tuple[str, str], dict[str, Any]],
) -> None:
    workers = {
        n: d for n, d in of_kind(resources, "Deployment").items() if celery_role(d) == "worker"
    }
    by_queue: dict[str, str] = {}
    for name, doc in workers.items():
        command = main_container(doc)["command"]
        queues = command[command.index("--queues") + 1].split(",")
        assert len(queues) == 1, f"{name} consumes {queues}: one queue per Deployment"
        (queue,) = queues
        assert queue not in by_queue, f"{queue} has two Deployments"
        by_queue[queue] = name
        concurrency = int(command[command.index("--concurrency") + 1])
        # The same command line as `make run`'s workers (local_stack.worker_command).
        expected = worker_command(concurrency=concurrency, queues=(queue,), hostname=f"{queue}@%h")
        assert command == ["celery", *expected[3:]], name
        assert "--beat" not in command and "-B" not in command, name
        ping = main_container(doc)["livenessProbe"]["exec"]["command"][-1]
        assert f'--destination "{queue}@$HOSTNAME"' in ping, name  # %h is the pod's name
    assert sorted(by_queue) == sorted(QUEUES)


def test_beat_is_one_replica_that_is_never_two(
    resources: dict[tuple[str, str], dict[str, Any]],
) -> None:
    beats = [d for d in of_kind(resources, "Deployment").values() if celery_role(d) == "beat"]
    (beat,) = beats
    assert beat["spec"]["replicas"] == 1
    # A rolling update would start the new pod before stopping the old one.
    assert beat["spec"]["strategy"] == {"type": "Recreate"}
    assert main_container(beat)["command"] == ["celery", *beat_command()[3:]]


def test_the_migration_is_a_job_the_other_pods_wait_for(
    resources: dict[tuple[str, str], dict[str, Any]],
) -> None:
    (job,) = of_kind(resources, "Job").values()
    assert main_container(job)["command"] == ["flask", "--app", "wsgi", "db", "upgrade"]
    assert job["spec"]["template"]["spec"]["restartPolicy"] in {"Never", "OnFailure"}
    assert 0 < job["spec"]["backoffLimit"] <= 6
    for name, doc in of_kind(resources, "Deployment").items():
        (wait,) = doc["spec"]["template"]["spec"]["initContainers"]
        script = wait["command"][-1]
        assert wait["command"][:2] == ["sh", "-c"], name
        assert "flask --app wsgi db current" in script and "(head)" in script, name


def test_the_wait_for_migrations_ends_only_once_the_job_has_run(
    resources: dict[tuple[str, str], dict[str, Any]], tmp_path: Path
) -> None:
    """The init container's condition, run here with `sh` on a fresh database, then after the
    Job's command: false before, true after."""
    web = resources[("Deployment", "dispatcher-web")]
    (wait,) = web["spec"]["template"]["spec"]["initContainers"]
    condition = re.fullmatch(r"until (.+); do .+; done", wait["command"][-1]).group(1)
    bin_dir = str(Path(sys.executable).parent)
    environment = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "INSTANCE_DIR": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'k8s-check.db'}",
    }

    def run(argv: list[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            argv, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120
        )

    assert run(["sh", "-c", condition]).returncode != 0  # the pod keeps waiting
    job = main_container(of_kind(resources, "Job")["dispatcher-migrate"])
    migrated = run(job["command"])
    assert migrated.returncode == 0, migrated.stderr
    assert run(["sh", "-c", condition]).returncode == 0  # the pod starts
