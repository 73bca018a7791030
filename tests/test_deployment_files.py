"""No Docker engine runs here, so the compose file is checked by running what it runs: each
service's command, with the environment the Dockerfile and compose give it, against the
project's real entry points (gunicorn loads `wsgi:app`, Celery finds `celery_worker`'s app,
`flask db upgrade` migrates a fresh database, `flask mail-catcher` exists with its options).
"""

from __future__ import annotations

import os
import re
import shlex
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from dashboard.ops.local_stack import DEFAULT_LANES
from dashboard.sending.queues import QUEUES

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
APP_SERVICES = {
    "migrate",
    "web",
    "worker",
    "transactional-worker",
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
    for name in ("postgres", "redis", "rabbitmq", "web", "worker", "transactional-worker"):
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


@pytest.mark.parametrize("service", ["worker", "transactional-worker", "beat"])
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


def test_the_workers_are_the_lanes_make_run_starts(compose: dict[str, Any]) -> None:
    """Every queue the app publishes to has a worker, and the API's mail has one of its own."""
    lanes = {}
    for service in ("transactional-worker", "worker"):
        argv = command_of(compose["services"][service])
        lanes[service] = tuple(argv[argv.index("--queues") + 1].split(","))
    assert lanes == {"transactional-worker": ("transactional",), "worker": ("bulk",)}
    assert sorted(q for lane in DEFAULT_LANES for q in lane.queues) == sorted(QUEUES)
    assert {lane.queues for lane in DEFAULT_LANES} == set(lanes.values())


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
