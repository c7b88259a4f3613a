"""The `mailbridge` command: migrate, API keys, key rotation, clear errors."""

import os
import subprocess
import sys
from pathlib import Path

from config_api_testing import Api
from mailbridge.common.secrets import generate_key


def mailbridge(var_dir: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MAILBRIDGE_")}
    clean |= {"MAILBRIDGE_VAR_DIR": str(var_dir), **env}
    command = [sys.executable, "-m", "mailbridge.launcher.cli", *args]
    return subprocess.run(command, env=clean, capture_output=True, text=True, timeout=120, check=False)


def test_migrate_then_create_keys(tmp_path: Path) -> None:
    key = generate_key()
    assert mailbridge(tmp_path, "migrate", MAILBRIDGE_SECRET_KEY=key).returncode == 0
    admin = mailbridge(tmp_path, "api-key", "create", "--admin")
    assert admin.returncode == 0, admin.stderr
    assert admin.stdout.startswith("mbk_")
    unknown = mailbridge(tmp_path, "api-key", "create", "--user", "01a21a80-4577-7c31-aec5-77c42ab161e2")
    assert unknown.returncode == 2
    assert "does not exist" in unknown.stderr
    assert "Traceback" not in unknown.stderr
    down = mailbridge(tmp_path, "migrate", "--down", "base")
    assert down.returncode == 0, down.stderr


async def test_created_key_authenticates(api: Api, tmp_path: Path) -> None:
    """A key made on the command line works against the same database."""
    database = api.running.database_url
    created = mailbridge(tmp_path, "api-key", "create", "--admin", MAILBRIDGE_DATABASE_URL=database)
    assert created.returncode == 0, created.stderr
    assert (await api.with_key(created.stdout.strip()).get("/business-units")).status_code == 200
    assert (await api.with_key(created.stdout.strip() + "x").get("/business-units")).status_code == 401


def test_rotate_without_key_is_a_clear_error(tmp_path: Path) -> None:
    rotated = mailbridge(tmp_path, "secrets", "rotate")
    assert rotated.returncode == 2
    assert "MAILBRIDGE_SECRET_KEY" in rotated.stderr


def test_help_lists_the_commands(tmp_path: Path) -> None:
    shown = mailbridge(tmp_path, "--help")
    assert shown.returncode == 0
    for command in ("run", "serve", "migrate", "api-key", "secrets"):
        assert command in shown.stdout
