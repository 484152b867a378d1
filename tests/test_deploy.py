"""The deployment files name only what Baton has: the Dockerfile, compose.yaml and the Kubernetes base
(rendered by `kubectl kustomize`), checked against Baton's command line, settings and HTTP routes; and the
image's install step, replayed in a fresh virtualenv, gives a Baton that migrates, serves and passes the
image's HEALTHCHECK."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from bot.__main__ import build_parser
from bot.emulator import SlackEmulator
from bot.settings import Settings

from .conftest import running_baton
from .processes import BatonProcess

PROJECT = Path(__file__).resolve().parents[1]
KUBERNETES = PROJECT / "deploy" / "kubernetes"
# Variables the files set that are not Baton settings, each for a reason of its own.
NOT_BATON_SETTINGS = {
    "PATH": "where the image's virtualenv is",
    "PYTHONUNBUFFERED": "log lines leave at once",
    "MPLCONFIGDIR": "matplotlib's cache on a writable volume (read-only root file system)",
}


def _subcommands() -> set[str]:
    parser = build_parser()
    actions = [action for action in parser._actions if action.dest == "command"]
    return set(actions[0].choices or ())


def _assert_known_setting(name: str) -> None:
    known = {field.upper() for field in Settings.model_fields}
    assert name in known or name in NOT_BATON_SETTINGS or name.startswith("OTEL_"), f"{name} is not a Baton setting"


def _dockerfile() -> list[tuple[str, str]]:
    """(instruction, arguments) pairs, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n\s*", " ", (PROJECT / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def _runtime_stage() -> list[tuple[str, str]]:
    """The instructions of the image that runs: those after the last FROM."""
    instructions = _dockerfile()
    last_from = max(index for index, (instruction, _) in enumerate(instructions) if instruction == "FROM")
    return instructions[last_from + 1 :]


def _dockerfile_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for instruction, arguments in _runtime_stage():
        if instruction == "ENV":
            env.update(part.split("=", 1) for part in shlex.split(arguments))  # type: ignore[arg-type]
    return env


def test_the_dockerfile_runs_a_baton_command_on_the_port_it_exposes_as_a_non_root_user() -> None:
    instructions = dict(_runtime_stage())
    env = _dockerfile_env()
    for name in env:
        _assert_known_setting(name)
    entrypoint, command = json.loads(instructions["ENTRYPOINT"]), json.loads(instructions["CMD"])
    assert entrypoint == ["python", "-m", "bot"] and command == ["serve"]
    assert command[0] in _subcommands()
    assert instructions["EXPOSE"] == env["PORT"] == str(Settings.model_fields["port"].default)
    assert instructions["USER"].split(":")[0] != "0" and "root" not in instructions["USER"]
    assert "/healthz" in instructions["HEALTHCHECK"]
    ignored = {line.strip() for line in (PROJECT / ".dockerignore").read_text().splitlines()}
    for instruction, arguments in _dockerfile():
        if instruction == "COPY" and not arguments.startswith("--from"):
            *sources, _target = arguments.split()
            for source in sources:
                assert (PROJECT / source).exists(), f"COPY {source}: no such file"
                assert source.rstrip("/") not in ignored, f"COPY {source}, but .dockerignore leaves it out"
    assert ".env" in ignored and ".git" in ignored and "data" in ignored  # no secrets or local state in the image


def _compose() -> dict[str, Any]:
    return yaml.safe_load((PROJECT / "compose.yaml").read_text())  # type: ignore[no-any-return]


def test_compose_runs_the_migration_once_before_two_batons_on_one_postgresql() -> None:
    services = _compose()["services"]
    batons = [name for name, service in services.items() if service.get("build") and name != "migrate"]
    assert len(batons) == 2
    assert services["migrate"]["command"][0] in _subcommands() and services["migrate"]["command"] == ["migrate"]
    urls = {services[name]["environment"]["DATABASE_URL"] for name in [*batons, "migrate"]}
    assert len(urls) == 1 and urls.pop().startswith("postgresql://")
    for name in batons:
        service = services[name]
        assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert service["environment"]["AUTO_MIGRATE"] == "false"  # only the migrate service changes the schema
        for setting in service["environment"]:
            _assert_known_setting(setting)
        container_ports = {port.rsplit(":", 1)[1] for port in service["ports"]}
        assert container_ports == {_dockerfile_env()["PORT"]}
    assert "pg_isready" in services["postgres"]["healthcheck"]["test"]


def _rendered() -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed")
    rendered = subprocess.run([kubectl, "kustomize", str(KUBERNETES)], capture_output=True, text=True, check=True)
    return [document for document in yaml.safe_load_all(rendered.stdout) if document]


def _containers(documents: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    for document in documents:
        if document["kind"] in ("Deployment", "Job"):
            for container in document["spec"]["template"]["spec"]["containers"]:
                yield document["kind"], container


def test_the_kubernetes_base_renders_and_names_only_commands_settings_and_ports_baton_has() -> None:
    documents = _rendered()
    kinds = {document["kind"]: document for document in documents}
    assert set(kinds) >= {"Deployment", "Job", "Service", "PodDisruptionBudget", "ServiceAccount"}
    secret_names = set()
    for kind, container in _containers(documents):
        assert container["args"][0] in _subcommands()
        assert container["image"] == kinds["Deployment"]["spec"]["template"]["spec"]["containers"][0]["image"]
        assert "resources" in container and "memory" in container["resources"]["requests"]
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        for variable in container["env"]:
            _assert_known_setting(variable["name"])
            reference = variable.get("valueFrom", {}).get("secretKeyRef")
            if reference:
                secret_names.add(reference["name"])
            else:
                assert "TOKEN" not in variable["name"] and "SECRET" not in variable["name"], "a secret in plain text"
        if kind == "Job":
            assert container["args"] == ["migrate"]
    assert len(secret_names) == 1, "one Secret holds every token"
    deployment = kinds["Deployment"]
    pod = deployment["spec"]["template"]
    (server,) = pod["spec"]["containers"]
    env = {variable["name"]: variable.get("value") for variable in server["env"]}
    (port,) = server["ports"]
    assert str(port["containerPort"]) == env["PORT"]
    assert env["AUTO_MIGRATE"] == "false"
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert server[probe]["httpGet"]["port"] == port["name"]
    assert server["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert server["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    assert pod["spec"]["terminationGracePeriodSeconds"] > float(env["STOP_NOTICE_SECONDS"]) + 10 + 3 * 5
    labels = pod["metadata"]["labels"]
    for selecting in (kinds["Service"]["spec"]["selector"], kinds["PodDisruptionBudget"]["spec"]["selector"]):
        selector = selecting.get("matchLabels", selecting)
        assert selector.items() <= labels.items()
    assert kinds["Service"]["spec"]["ports"][0]["targetPort"] == port["name"]
    assert kinds["PodDisruptionBudget"]["spec"]["minAvailable"] < deployment["spec"]["replicas"]


async def test_every_path_the_probes_and_health_check_name_is_served_by_baton(
    tmp_path: Path, slack: SlackEmulator
) -> None:
    paths = {"/healthz"}  # the Dockerfile's HEALTHCHECK
    for _kind, container in _containers(_rendered()):
        paths |= {container[probe]["httpGet"]["path"] for probe in container if probe.endswith("Probe")}
    async with running_baton(tmp_path, slack) as (_baton, driver), aiohttp.ClientSession() as session:
        base = driver.baton_url.removesuffix("/slack/events")
        for path in sorted(paths):
            async with session.get(base + path) as response:
                assert response.status == 200, path


def _image_install(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """Replay the Dockerfile's build stage here: its COPY sources into a clean context, `python -m venv`, and
    `pip install <context>`, with one difference said aloud: pip installs no dependencies (the build backend
    comes from the registry as for `make`, but not matplotlib and the rest at every test run); they come from
    this checkout's virtualenv instead, less its own editable Baton, and `pip check` proves each dependency the
    package declares is met."""
    context = tmp_path / "src"
    for instruction, arguments in _dockerfile():
        if instruction == "COPY" and not arguments.startswith("--from") and "workflows" not in arguments:
            *sources, _target = arguments.split()
            for source in sources:
                origin = PROJECT / source
                copy = context / source
                if origin.is_dir():
                    shutil.copytree(origin, copy, ignore=shutil.ignore_patterns("__pycache__"))
                else:
                    context.mkdir(exist_ok=True)
                    shutil.copy(origin, copy)
    venv = tmp_path / "opt-baton"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    install = [str(python), "-m", "pip", "install", "--quiet", "--no-deps", str(context)]
    subprocess.run(install, check=True, cwd=tmp_path, capture_output=True)
    dependencies = tmp_path / "dependencies"  # this checkout's packages, without its editable Baton
    dependencies.mkdir()
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        if not entry.name.startswith(("baton", "__editable__", "_virtualenv")) and entry.suffix != ".pth":
            (dependencies / entry.name).symlink_to(entry)
    env = {**os.environ, "PYTHONPATH": str(dependencies)}
    return python, env


@pytest.mark.slow
async def test_the_image_install_step_gives_a_baton_that_migrates_serves_and_passes_its_healthcheck(
    tmp_path: Path, slack: SlackEmulator
) -> None:
    python, env = _image_install(tmp_path)
    app = tmp_path / "app"  # the image's WORKDIR: workflows/ beside a data directory, no source tree
    shutil.copytree(PROJECT / "workflows", app / "workflows")
    where = subprocess.run(
        [str(python), "-c", "import bot; print(bot.__file__)"], env=env, cwd=app, capture_output=True, text=True
    )
    assert where.stdout.startswith(str(tmp_path / "opt-baton")), where.stdout + where.stderr
    checked = subprocess.run([str(python), "-m", "pip", "check"], env=env, capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    database = f"sqlite:///{app / 'data' / 'baton.db'}"
    migrated = subprocess.run(
        [str(python), "-m", "bot", "migrate"], env={**env, "DATABASE_URL": database}, cwd=app, capture_output=True
    )
    assert migrated.returncode == 0, migrated.stderr
    healthcheck = json.loads(dict(_runtime_stage())["HEALTHCHECK"].split("CMD", 1)[1])
    assert healthcheck[0] == "python"
    process = BatonProcess(
        slack, app / "data" / "baton.db", app / "workflows", tmp_path / "baton.log",
        python=str(python), cwd=app, pythonpath=env["PYTHONPATH"], auto_migrate="false",
    )
    await process.start()
    try:
        probe = subprocess.run(
            [str(python), *healthcheck[1:]], env={**env, "PORT": str(process.port)}, capture_output=True, timeout=30
        )
        assert probe.returncode == 0, probe.stderr
    finally:
        process.stop()
    stopped = subprocess.run([str(python), *healthcheck[1:]], env={**env, "PORT": str(process.port)}, timeout=30)
    assert stopped.returncode != 0  # the health check fails once nothing answers
