"""No Docker engine runs here, so the compose file is checked by running what it runs: each
service's command, with the environment the Dockerfile and compose give it, against the
project's real entry points (gunicorn loads `wsgi:app`, Celery finds `celery_worker`'s app,
`flask db upgrade` migrates a fresh database, `flask mail-catcher` exists with its options).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import urlsplit

import pytest
import yaml

from dashboard import config
from dashboard.ops.local_stack import DEFAULT_LANES
from dashboard.sending.queues import QUEUES
from tests import compose_render

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
APP_SERVICES = {
    "migrate",
    "web",
    "worker",
    "transactional-worker",
    "housekeeping-worker",
    "beat",
    "mailcatcher",
    "flower",
}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def dockerfile_env() -> dict[str, str]:
    """The `ENV` lines of the Dockerfile, as a dict."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    env: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("ENV "):
            env.update(part.split("=", 1) for part in shlex.split(line[4:]))
    return env


def command_of(service: dict[str, Any]) -> list[str]:
    command = service["command"]
    return shlex.split(command) if isinstance(command, str) else list(command)


def run_in_container_env(
    argv: list[str], dockerfile_env: dict[str, str], tmp_path: Path
) -> subprocess.CompletedProcess[str]:
    """Run a service's command here with the image's environment, on a scratch database."""
    env = {
        **os.environ,
        **dockerfile_env,
        "INSTANCE_DIR": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'compose-check.db'}",
    }
    executable = str(BIN / argv[0])
    return subprocess.run(
        [executable, *argv[1:]], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_compose_runs_every_part_of_the_system(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"postgres", "redis", "rabbitmq", *APP_SERVICES} <= set(services)
    assert "redis-server" in command_of(services["redis"])
    for name in APP_SERVICES:
        assert services[name]["build"] == ".", f"{name} must run the project's image"
        environment = services[name]["environment"]
        assert environment["CELERY_BROKER_URL"] == "${COMPOSE_BROKER_URL:-redis://redis:6379/0}"
        assert environment["CELERY_RESULT_BACKEND"].startswith("redis://redis:6379/")
    for name in APP_SERVICES - {"migrate"}:
        depends_on = services[name]["depends_on"]
        assert depends_on["migrate"] == {"condition": "service_completed_successfully"}, (
            f"{name} must wait for the migrations"
        )
        for part in ("postgres", "redis"):
            assert depends_on[part] == {"condition": "service_healthy"}, (name, part)
        # RabbitMQ only runs with its profile; when it does, wait until it answers.
        assert depends_on["rabbitmq"] == {"condition": "service_healthy", "required": False}
    assert services["migrate"]["restart"] == "no"
    assert services["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}


def test_every_server_has_a_healthcheck(compose: dict[str, Any]) -> None:
    services = compose["services"]
    workers = ("worker", "transactional-worker", "housekeeping-worker")
    for name in ("postgres", "redis", "rabbitmq", "web", *workers):
        healthcheck = services[name]["healthcheck"]
        assert healthcheck["test"][0] in {"CMD", "CMD-SHELL"}, name
        assert healthcheck["retries"] >= 3, name
    assert services["postgres"]["healthcheck"]["test"][1] == "pg_isready"
    assert "ping" in services["rabbitmq"]["healthcheck"]["test"]


def test_rabbitmq_is_a_profile_and_its_url_matches_its_user(compose: dict[str, Any]) -> None:
    rabbitmq = compose["services"]["rabbitmq"]
    assert rabbitmq["profiles"] == ["rabbitmq"]
    assert rabbitmq["environment"]["RABBITMQ_DEFAULT_USER"] == "dispatcher"
    header = (ROOT / "docker-compose.yml").read_text().split("x-app:")[0]
    assert "COMPOSE_PROFILES=rabbitmq COMPOSE_BROKER_URL=amqp://dispatcher:" in header
    assert "@rabbitmq:5672//" in header


def test_the_database_is_the_postgres_service(
    compose: dict[str, Any], dockerfile_env: dict[str, str]
) -> None:
    postgres = compose["services"]["postgres"]["environment"]
    expected = (
        f"postgresql+psycopg://{postgres['POSTGRES_USER']}:{postgres['POSTGRES_PASSWORD']}"
        f"@postgres:5432/{postgres['POSTGRES_DB']}"
    )
    assert "postgres:/var/lib/postgresql/data" in compose["services"]["postgres"]["volumes"]
    for name in APP_SERVICES:
        service = compose["services"][name]
        assert service["environment"]["DATABASE_URL"] == expected
        # The beat schedule (and nothing a worker needs) lives on the per-host data volume.
        assert "data:/data" in service["volumes"]
        assert service["environment"]["INSTANCE_DIR"] == dockerfile_env["INSTANCE_DIR"] == "/data"


def test_workers_scale_and_beat_is_one(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in ("worker", "beat"):
        assert "container_name" not in services[name] and "ports" not in services[name]
    argv = command_of(services["worker"])
    assert argv[argv.index("--hostname") + 1] == "worker@%h"  # one node name per container
    assert "deploy" not in services["beat"]
    text = (ROOT / "docker-compose.yml").read_text()
    assert "--scale worker=4" in text and "never scale it" in text


def test_web_healthcheck_asks_a_route_the_app_serves(
    compose: dict[str, Any], dockerfile_env: dict[str, str], tmp_path: Path
) -> None:
    probe = compose["services"]["web"]["healthcheck"]["test"][-1]
    path = re.search(r"http://127\.0\.0\.1:5000(/\w+)", probe).group(1)
    code = f"from wsgi import app; print(app.test_client().get({path!r}).status_code)"
    result = run_in_container_env(["python", "-c", code], dockerfile_env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "200"


def test_worker_healthcheck_pings_a_running_worker_by_node_name(
    compose: dict[str, Any], stack_settings: dict[str, str], worker: Path
) -> None:
    check = compose["services"]["worker"]["healthcheck"]["test"]
    assert check[0] == "CMD-SHELL"
    # The session's worker stands in for the container: its node name, its broker.
    node = f"tests-{os.getpid()}@{socket.gethostname()}"
    argv = shlex.split(check[1].replace("$$HOSTNAME", socket.gethostname()))
    argv = [a.replace("worker@", f"tests-{os.getpid()}@") for a in argv]
    assert node in argv
    result = subprocess.run(
        [str(BIN / argv[0]), *argv[1:]],
        cwd=ROOT,
        env={**os.environ, **stack_settings},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{node}: OK" in result.stdout and "pong" in result.stdout


def test_mail_goes_to_the_compose_catcher_by_default(compose: dict[str, Any]) -> None:
    services = compose["services"]
    catcher = command_of(services["mailcatcher"])
    port = catcher[catcher.index("--port") + 1]
    environment = services["worker"]["environment"]
    assert environment["MAIL_SERVER"] == "${MAIL_SERVER:-mailcatcher}"
    assert environment["MAIL_PORT"] == f"${{MAIL_PORT:-{port}}}"
    assert catcher[catcher.index("--host") + 1] == "0.0.0.0"  # reachable from the worker


def test_migrate_service_migrates_a_fresh_database(
    compose: dict[str, Any], dockerfile_env: dict[str, str], tmp_path: Path
) -> None:
    argv = command_of(compose["services"]["migrate"])
    assert argv == ["flask", "db", "upgrade"]
    result = run_in_container_env(argv, dockerfile_env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Running upgrade" in result.stderr
    assert (tmp_path / "compose-check.db").stat().st_size > 0


def test_web_service_is_gunicorn_loading_the_wsgi_app(
    compose: dict[str, Any], dockerfile_env: dict[str, str], tmp_path: Path
) -> None:
    argv = command_of(compose["services"]["web"])
    assert argv[0] == "gunicorn"
    assert "wsgi:app" in argv
    assert "0.0.0.0:5000" in argv  # the port published by compose
    assert compose["services"]["web"]["ports"] == ["127.0.0.1:${PORT:-5000}:5000"]
    result = run_in_container_env([*argv, "--check-config"], dockerfile_env, tmp_path)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    "service", ["worker", "transactional-worker", "housekeeping-worker", "beat"]
)
def test_celery_services_find_the_projects_celery_app(
    compose: dict[str, Any], dockerfile_env: dict[str, str], tmp_path: Path, service: str
) -> None:
    argv = command_of(compose["services"][service])
    assert argv[:4] == ["celery", "-A", "celery_worker", service.rsplit("-", 1)[-1]]
    # `celery report` loads the app exactly as `-A` does, then prints its configuration.
    result = run_in_container_env([*argv[:3], "report"], dockerfile_env, tmp_path)
    assert result.returncode == 0, result.stderr
    # The project's own configuration, read from the environment the container gives it.
    assert f"beat_schedule_filename: '{tmp_path}/celerybeat-schedule'" in result.stdout
    for queue in QUEUES:
        assert f"Queue {queue} ->" in result.stdout


def _lane_of(argv: list[str]) -> tuple[tuple[str, ...], int]:
    """A worker command's queues and its number of processes."""
    queues = tuple(argv[argv.index("--queues") + 1].split(","))
    return queues, int(argv[argv.index("--concurrency") + 1])


def test_the_workers_are_the_lanes_make_run_starts(compose: dict[str, Any]) -> None:
    """Every queue the app publishes to has a worker, and the API's mail has one of its own;
    docker-compose.yml and the Kubernetes manifests run each lane with as many processes as
    `make run` does (what the benchmarks and the transactional lane's tests measure)."""
    lanes = {}
    for service in ("transactional-worker", "worker", "housekeeping-worker"):
        lanes[service] = _lane_of(command_of(compose["services"][service]))
    assert {service: queues for service, (queues, _) in lanes.items()} == {
        "transactional-worker": ("transactional",),
        "worker": ("bulk",),
        "housekeeping-worker": ("housekeeping",),
    }
    assert sorted(q for lane in DEFAULT_LANES for q in lane.queues) == sorted(QUEUES)
    made = {(lane.queues, lane.concurrency) for lane in DEFAULT_LANES}
    assert made == set(lanes.values())
    manifests = []
    for name in ("worker-transactional", "worker-bulk", "worker-housekeeping"):
        documents = yaml.safe_load_all(
            (ROOT / "deploy" / "kubernetes" / f"{name}.yaml").read_text()
        )
        manifests += [
            _lane_of(container["command"])
            for document in documents
            if document and document.get("kind") == "Deployment"
            for container in document["spec"]["template"]["spec"]["containers"]
            if "--queues" in container.get("command", [])
        ]
    assert sorted(manifests) == sorted(made)


def test_celery_worker_module_exposes_celery_not_a_flask_app() -> None:
    # Celery's `-A module` looks for an attribute named `app` before `celery`: a Flask app
    # under that name would shadow the Celery one.
    source = (ROOT / "celery_worker.py").read_text()
    assert re.search(r"^celery = ", source, re.MULTILINE)
    assert not re.search(r"^app\b", source, re.MULTILINE)


def test_mailcatcher_command_exists_with_its_options(
    compose: dict[str, Any], dockerfile_env: dict[str, str], tmp_path: Path
) -> None:
    argv = command_of(compose["services"]["mailcatcher"])
    assert argv[:2] == ["flask", "mail-catcher"]
    result = run_in_container_env([*argv[:2], "--help"], dockerfile_env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "--host" in result.stdout and "--port" in result.stdout


def test_flower_command_exists_and_is_a_profile(
    compose: dict[str, Any], dockerfile_env: dict[str, str], tmp_path: Path
) -> None:
    flower = compose["services"]["flower"]
    assert flower["profiles"] == ["monitoring"]
    assert flower["ports"] == ["127.0.0.1:5555:5555"]
    argv = command_of(flower)
    assert argv[:4] == ["celery", "-A", "celery_worker", "flower"]
    result = run_in_container_env([*argv[:4], "--help"], dockerfile_env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "monitoring" in result.stdout  # flower is installed and finds the Celery app
    # (tests/test_operations.py runs it against a live worker.)
    assert "--address=0.0.0.0" in argv and "--port=5555" in argv


def test_dockerfile_installs_the_pinned_requirements() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert "FROM python:3.11" in text
    assert "pip install -r requirements.txt" in text


def test_requirements_are_pinned_and_list_packaging() -> None:
    lines = [
        line.strip()
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    unpinned = [line for line in lines if "==" not in line]
    assert not unpinned, f"unpinned requirements: {unpinned}"
    names = {re.split(r"[\[=]", line)[0].lower() for line in lines}
    assert {"flask", "celery", "redis", "kombu", "packaging", "gunicorn"} <= names
    assert {"psycopg", "prometheus-client", "flower"} <= names


def environment_variables_read_by_the_code() -> set[str]:
    pattern = re.compile(
        r"""(?:environ(?:\.get)?\(\s*|environ\[\s*|_(?:int|bool|float)\(\s*)"([A-Z][A-Z0-9_]+)\""""
    )
    names: set[str] = set()
    for path in [*(ROOT / "dashboard").rglob("*.py"), ROOT / "run.py"]:
        names.update(pattern.findall(path.read_text()))
    return names


def test_env_example_documents_every_variable_the_code_reads() -> None:
    read = environment_variables_read_by_the_code()
    assert {"MAIL_SERVER", "DATABASE_URL", "SECRET_KEY", "PORT", "INSTANCE_DIR"} <= read
    documented = set(
        re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.MULTILINE)
    )
    assert read - documented == set(), "variables missing from .env.example"


# --- The compose configuration as `docker compose config` renders it ----------------------------
# (tests/compose_render.py: YAML, `${...}` from the shell and `.env`, env_file < environment,
# profiles), then what dashboard/config.py makes of each container's environment.

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1", "0.0.0.0", ""}
COMPOSE_DB = "postgresql+psycopg://dispatcher:{password}@postgres:5432/dispatcher"


def project_with_env(tmp_path: Path, *extra_lines: str) -> Path:
    """A project directory whose `.env` is a copy of `.env.example`, plus `extra_lines`."""
    project = tmp_path / "project"
    project.mkdir()
    text = (ROOT / ".env.example").read_text()
    (project / ".env").write_text(text + "\n".join(extra_lines) + "\n")
    return project


def rendered(
    project: Path, dockerfile_env: dict[str, str], **shell: str
) -> dict[str, dict[str, Any]]:
    return compose_render.render(ROOT / "docker-compose.yml", project, shell, dockerfile_env)


def app_services(services: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {name: s for name, s in services.items() if s.get("build") == "."}


def settings_in_container(service: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    """The app's settings from this container's environment alone: `.env` is not in the image
    (.dockerignore), so python-dotenv finds no file there and the environment is all it reads."""
    assert service["container_env"]["INSTANCE_DIR"] == "/data"
    with (
        mock.patch.dict(os.environ, service["container_env"], clear=True),
        mock.patch.object(config, "INSTANCE_DIR", tmp_path),  # the /data volume
    ):
        return config.load_settings()


def server_hosts(settings: dict[str, Any]) -> dict[str, str]:
    """Every server address a process of the app connects to, by setting name."""
    urls = {
        "database": settings["SQLALCHEMY_DATABASE_URI"],
        "broker": settings["CELERY"]["broker_url"],
        "results": settings["CELERY"]["result_backend"],
        "redis": settings["REDIS_URL"],
        "rate limit": settings["RATE_LIMIT_REDIS_URL"],
    }
    hosts = {name: urlsplit(url).hostname or "" for name, url in urls.items()}
    return {**hosts, "smtp": settings["MAIL_SERVER"]}


def catcher_port(services: dict[str, dict[str, Any]]) -> int:
    argv = command_of(services["mailcatcher"])
    assert argv[argv.index("--host") + 1] == "0.0.0.0"  # reachable from the other containers
    return int(argv[argv.index("--port") + 1])


def test_the_image_holds_no_dotenv() -> None:
    # Otherwise `COPY . .` would bake a developer's .env (MAIL_PASSWORD...) into the image, and
    # load_dotenv would fill whatever compose leaves unset from it.
    assert ".env" in (ROOT / ".dockerignore").read_text().split()


@pytest.mark.parametrize("with_dotenv", [True, False], ids=["env-example-copied", "no-dotenv"])
def test_compose_wires_every_container_to_the_compose_services(
    dockerfile_env: dict[str, str], tmp_path: Path, with_dotenv: bool
) -> None:
    project = project_with_env(tmp_path)
    if not with_dotenv:
        (project / ".env").unlink()
    services = rendered(project, dockerfile_env)
    assert {"postgres", "redis", "migrate", "web", "worker", "beat", "mailcatcher"} <= set(services)
    assert not {"rabbitmq", "flower"} & set(services)  # profiles not asked for
    port = catcher_port(services)
    password = services["postgres"]["environment"]["POSTGRES_PASSWORD"]
    for name, service in app_services(services).items():
        settings = settings_in_container(service, tmp_path)
        assert server_hosts(settings) == {
            "database": "postgres",
            "broker": "redis",
            "results": "redis",
            "redis": "redis",
            "rate limit": "redis",
            "smtp": "mailcatcher",
        }, name
        assert settings["SQLALCHEMY_DATABASE_URI"] == COMPOSE_DB.format(password=password)
        assert settings["CELERY"]["broker_url"] == "redis://redis:6379/0"
        assert settings["CELERY"]["result_backend"] == "redis://redis:6379/1"
        assert (settings["MAIL_PORT"], settings["MAIL_USERNAME"]) == (port, ""), name
        assert not settings["MAIL_USE_TLS"] and not settings["MAIL_USE_SSL"]


def test_compose_sends_through_the_users_smtp_and_ignores_loopback_addresses(
    dockerfile_env: dict[str, str], tmp_path: Path
) -> None:
    """A `.env` with a real SMTP account and passwords, and (as an older .env.example had them)
    the loopback addresses of `make run`: the mail goes to the account, the rest stays on the
    compose services."""
    project = project_with_env(
        tmp_path,
        "MAIL_SERVER=smtp.gmail.com",
        "MAIL_PORT=587",
        "MAIL_USE_TLS=true",
        "MAIL_USERNAME=you@gmail.com",
        "MAIL_PASSWORD=app-password-1234",
        "POSTGRES_PASSWORD=pg-secret-5678",
        "SECRET_KEY=" + "k" * 48,
        "APP_ENV=production",
        "PORT=8080",
        "DATABASE_URL=sqlite:///instance/dashboard.db",
        "REDIS_URL=redis://127.0.0.1:6379/0",
        "CELERY_BROKER_URL=redis://127.0.0.1:6379/0",
        "CELERY_RESULT_BACKEND=redis://127.0.0.1:6379/0",
        "RATE_LIMIT_REDIS_URL=redis://127.0.0.1:6379/0",
    )
    services = rendered(project, dockerfile_env)
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD"] == "pg-secret-5678"
    assert services["web"]["ports"] == ["127.0.0.1:8080:5000"]
    assert "0.0.0.0:5000" in command_of(services["web"])  # the container's side of that port
    for name, service in app_services(services).items():
        settings = settings_in_container(service, tmp_path)
        hosts = server_hosts(settings)
        assert hosts.pop("smtp") == "smtp.gmail.com", name
        assert set(hosts.values()) <= {"postgres", "redis"}, (name, hosts)
        assert settings["SQLALCHEMY_DATABASE_URI"] == COMPOSE_DB.format(password="pg-secret-5678")
        assert settings["MAIL_PORT"] == 587 and settings["MAIL_USE_TLS"]
        assert (settings["MAIL_USERNAME"], settings["MAIL_PASSWORD"]) == (
            "you@gmail.com",
            "app-password-1234",
        )
        assert settings["SECRET_KEY"] == "k" * 48 and settings["APP_ENV"] == "production"


def test_compose_profiles_add_rabbitmq_as_the_broker_and_flower(
    dockerfile_env: dict[str, str], tmp_path: Path
) -> None:
    header = (ROOT / "docker-compose.yml").read_text().split("x-app:")[0]
    broker = re.search(r"COMPOSE_BROKER_URL=(\S+)", header).group(1)
    services = rendered(
        project_with_env(tmp_path),
        dockerfile_env,
        COMPOSE_PROFILES="rabbitmq,monitoring",
        COMPOSE_BROKER_URL=broker,
    )
    rabbitmq = services["rabbitmq"]["environment"]
    assert urlsplit(broker).hostname == "rabbitmq"
    assert (urlsplit(broker).username, urlsplit(broker).password) == (
        rabbitmq["RABBITMQ_DEFAULT_USER"],
        rabbitmq["RABBITMQ_DEFAULT_PASS"],
    )
    assert "flower" in services
    for name, service in app_services(services).items():
        settings = settings_in_container(service, tmp_path)
        assert settings["CELERY"]["broker_url"] == broker, name
        assert settings["CELERY"]["result_backend"] == "redis://redis:6379/1"  # not RabbitMQ
        if name != "migrate":
            assert service["depends_on"]["rabbitmq"]["condition"] == "service_healthy", name


def test_compose_roles_web_workers_one_beat_and_the_migration_first(
    dockerfile_env: dict[str, str], tmp_path: Path
) -> None:
    services = rendered(project_with_env(tmp_path), dockerfile_env)
    apps = app_services(services)
    web = command_of(services["web"])
    assert web[0] == "gunicorn" and web[web.index("--bind") + 1] == "0.0.0.0:5000"
    assert services["web"]["ports"] == ["127.0.0.1:5000:5000"]  # PORT=5000 in .env.example
    celery = {name: command_of(s) for name, s in apps.items() if command_of(s)[0] == "celery"}
    workers = {name: argv for name, argv in celery.items() if argv[3] == "worker"}
    consumed = [q for argv in workers.values() for q in argv[argv.index("--queues") + 1].split(",")]
    assert set(consumed) == set(QUEUES) and set(consumed) <= set(QUEUES)
    # Exactly one beat: its own service, never scaled, and no worker embedding one.
    assert [name for name, argv in celery.items() if argv[3] == "beat"] == ["beat"]
    assert services["beat"].get("deploy", {}).get("replicas", 1) == 1
    assert "scale" not in services["beat"]
    for argv in workers.values():
        assert "--beat" not in argv and "-B" not in argv
    # The migration runs once, to completion, before any other part of the app starts.
    assert command_of(services["migrate"]) == ["flask", "db", "upgrade"]
    assert services["migrate"]["restart"] == "no"
    assert set(services["migrate"]["depends_on"]) == {"postgres"}
    for name in set(apps) - {"migrate"}:
        assert services[name]["depends_on"]["migrate"] == {
            "condition": "service_completed_successfully"
        }, name


def test_every_deployment_starts_gunicorn_with_the_same_options(compose: dict[str, Any]) -> None:
    """The Dockerfile, docker-compose.yml and the Kubernetes manifest start the web tier as
    `make run` does (WEB_GUNICORN_OPTIONS), which is what bench/api_intake.py measures."""
    from dashboard.ops.local_stack import WEB_GUNICORN_OPTIONS

    def options(argv: list[str]) -> list[str]:
        assert argv[0] == "gunicorn" and argv[-1] == "wsgi:app", argv
        bind = argv.index("--bind")
        return argv[1:bind] + argv[bind + 2 : -1]

    cmd = next(
        line for line in (ROOT / "Dockerfile").read_text().splitlines() if line.startswith("CMD ")
    )
    manifest = yaml.safe_load_all((ROOT / "deploy" / "kubernetes" / "web.yaml").read_text())
    [kubernetes] = [
        container["command"]
        for document in manifest
        if document and document.get("kind") == "Deployment"
        for container in document["spec"]["template"]["spec"]["containers"]
        if container.get("command", [""])[0] == "gunicorn"
    ]
    for argv in (
        json.loads(cmd.removeprefix("CMD ")),
        command_of(compose["services"]["web"]),
        kubernetes,
    ):
        assert options(argv) == list(WEB_GUNICORN_OPTIONS)
