"""docker-compose.yml rendered the way `docker compose config` renders it, for a machine with no
Docker engine: the YAML (with its `<<:` merges), `${...}` interpolated from the shell and the
project's `.env`, the active profiles, and each service's container environment (the image's
`ENV`, then `env_file`, then `environment:`, each winning over the one before).

What it follows, from the Compose specification (interpolation, env_file, environment, profiles):
- interpolation reads the shell's variables first, then the project directory's `.env`;
  `${VAR:-x}` is x when VAR is unset or empty, `${VAR-x}` only when unset, `${VAR:?msg}` and
  `${VAR?msg}` refuse to render, `${VAR:+x}`/`${VAR+x}` give x when set, `$$` is a `$`;
  defaults may nest (`${A:-${B}}`);
- `env_file` entries are read in order (a later one wins); `required: false` skips a missing one;
- `environment:` wins over `env_file`;
- a service with `profiles:` runs only when one of them is enabled (COMPOSE_PROFILES).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from dotenv import dotenv_values

NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
EXPRESSION = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>.*))?", re.S)


class InterpolationError(ValueError):
    """`${VAR:?message}` with VAR unset or empty: compose refuses the file."""


def read_env_file(path: Path) -> dict[str, str]:
    """A `.env` file as compose reads it (KEY=value lines, quotes, comments); an empty value is
    an empty string, a bare `KEY` line sets nothing."""
    return {k: v for k, v in dotenv_values(path).items() if v is not None}


def interpolate(text: str, variables: Mapping[str, str]) -> str:
    out: list[str] = []
    i = 0
    while i < len(text):
        if text[i] != "$":
            out.append(text[i])
            i += 1
        elif text.startswith("$$", i):
            out.append("$")
            i += 2
        elif text.startswith("${", i):
            end = _closing_brace(text, i + 1)
            out.append(_substitute(text[i + 2 : end], variables))
            i = end + 1
        elif match := NAME.match(text, i + 1):
            out.append(variables.get(match.group(), ""))
            i = match.end()
        else:
            out.append("$")
            i += 1
    return "".join(out)


def _closing_brace(text: str, start: int) -> int:
    depth = 0
    for j in range(start, len(text)):
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        if depth == 0:
            return j
    raise InterpolationError(f"unclosed ${{ in {text!r}")


def _substitute(expression: str, variables: Mapping[str, str]) -> str:
    match = EXPRESSION.fullmatch(expression)
    if not match:
        raise InterpolationError(f"invalid interpolation ${{{expression}}}")
    name, op, arg = match["name"], match["op"], match["arg"]
    value = variables.get(name)
    present = value is not None and (value != "" or not (op or "").startswith(":"))
    if op in (":-", "-"):
        return value if present else interpolate(arg, variables)  # type: ignore[return-value]
    if op in (":?", "?"):
        if not present:
            raise InterpolationError(f"{name}: {interpolate(arg, variables)}")
        return value  # type: ignore[return-value]
    if op in (":+", "+"):
        return interpolate(arg, variables) if present else ""
    return value or ""


def _interpolate_tree(node: Any, variables: Mapping[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate(node, variables)
    if isinstance(node, list):
        return [_interpolate_tree(item, variables) for item in node]
    if isinstance(node, dict):
        return {key: _interpolate_tree(value, variables) for key, value in node.items()}
    return node


def _environment_dict(environment: Any) -> dict[str, str]:
    if isinstance(environment, list):  # the `- KEY=value` form
        return dict(item.split("=", 1) for item in environment)
    return {key: "" if value is None else str(value) for key, value in (environment or {}).items()}


def _env_files(service: dict[str, Any], project_dir: Path) -> dict[str, str]:
    entries = service.get("env_file") or []
    if isinstance(entries, str):
        entries = [entries]
    merged: dict[str, str] = {}
    for entry in entries:
        if isinstance(entry, str):
            path, required = entry, True
        else:
            path, required = entry["path"], entry.get("required", True)
        file = project_dir / path
        if not file.exists():
            if required:
                raise FileNotFoundError(f"env file {file} not found")
            continue
        merged.update(read_env_file(file))
    return merged


def render(
    compose_file: Path,
    project_dir: Path,
    shell: Mapping[str, str] | None = None,
    image_env: Mapping[str, str] | None = None,
) -> dict[str, dict[str, Any]]:
    """The active services of `compose_file` run from `project_dir` (which holds `.env`, or not)
    with `shell` as the shell's environment. Each service comes back interpolated, with
    `container_env`: what its process sees (`image_env`, the Dockerfile's ENV, under it)."""
    shell = dict(shell or {})
    dotenv = project_dir / ".env"
    variables = {**(read_env_file(dotenv) if dotenv.exists() else {}), **shell}
    document = _interpolate_tree(yaml.safe_load(compose_file.read_text()), variables)
    profiles = {p for p in variables.get("COMPOSE_PROFILES", "").split(",") if p}
    services: dict[str, dict[str, Any]] = {}
    for name, service in document["services"].items():
        if service.get("profiles") and not profiles & set(service["profiles"]):
            continue
        services[name] = {
            **service,
            "container_env": {
                **(image_env or {}),
                **_env_files(service, project_dir),
                **_environment_dict(service.get("environment")),
            },
        }
    for service in services.values():  # a dependency on an inactive optional service is dropped
        depends_on = service.get("depends_on") or {}
        if isinstance(depends_on, list):  # the short form: started, not healthy
            depends_on = service["depends_on"] = {
                dependency: {"condition": "service_started"} for dependency in depends_on
            }
        for dependency in list(depends_on):
            if dependency not in services:
                if depends_on[dependency].get("required", True):
                    raise ValueError(f"depends on {dependency}, which is not active")
                del depends_on[dependency]
    return services
