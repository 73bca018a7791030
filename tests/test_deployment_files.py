"""No Docker engine runs here, so the compose file is checked by running what it runs: each
service's command, with the environment the Dockerfile and compose give it, against the
project's real entry points (gunicorn loads `wsgi:app`, Celery finds `celery_worker`'s app,
`flask db upgrade` migrates a fresh database, `flask mail-catcher` exists with its options).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from dashboard.celery_app import QUEUES

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
APP_SERVICES = {"migrate", "web", "worker", "beat", "mailcatcher"}


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
    assert {"redis", *APP_SERVICES} <= set(services)
    assert "redis-server" in command_of(services["redis"])
    for name in APP_SERVICES:
        assert services[name]["build"] == ".", f"{name} must run the project's image"
        assert services[name]["environment"]["CELERY_BROKER_URL"] == "redis://redis:6379/0"
    for name in APP_SERVICES - {"migrate"}:
        assert services[name]["depends_on"]["migrate"] == {
            "condition": "service_completed_successfully"
        }, f"{name} must wait for the migrations"
    assert services["migrate"]["restart"] == "no"


def test_the_database_lives_on_the_shared_volume(
    compose: dict[str, Any], dockerfile_env: dict[str, str]
) -> None:
    for name in APP_SERVICES:
        service = compose["services"][name]
        assert "data:/data" in service["volumes"]
        assert service["environment"]["DATABASE_URL"] == "sqlite:////data/dashboard.db"
        assert service["environment"]["INSTANCE_DIR"] == dockerfile_env["INSTANCE_DIR"] == "/data"


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


@pytest.mark.parametrize("service", ["worker", "beat"])
def test_celery_services_find_the_projects_celery_app(
    compose: dict[str, Any], dockerfile_env: dict[str, str], tmp_path: Path, service: str
) -> None:
    argv = command_of(compose["services"][service])
    assert argv[:4] == ["celery", "-A", "celery_worker", service]
    # `celery report` loads the app exactly as `-A` does, then prints its configuration.
    result = run_in_container_env([*argv[:3], "report"], dockerfile_env, tmp_path)
    assert result.returncode == 0, result.stderr
    # The project's own configuration, read from the environment the container gives it.
    assert f"beat_schedule_filename: '{tmp_path}/celerybeat-schedule'" in result.stdout
    for queue in QUEUES:
        assert f"Queue {queue} ->" in result.stdout


def test_worker_consumes_every_queue_the_app_publishes_to(compose: dict[str, Any]) -> None:
    argv = command_of(compose["services"]["worker"])
    queues = argv[argv.index("--queues") + 1].split(",")
    assert sorted(queues) == sorted(QUEUES)


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
