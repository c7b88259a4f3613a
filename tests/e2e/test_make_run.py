"""`make run`: first start prints an admin key once, the API works with it, Ctrl-C stops all."""

import socket
import stat
from urllib.parse import urlparse

import httpx
import pytest
from e2e_system import start_make_run


def _listening(url: str) -> bool:
    parsed = urlparse(url)
    assert parsed.hostname
    assert parsed.port
    try:
        socket.create_connection((parsed.hostname, parsed.port), timeout=1).close()
    except OSError:
        return False
    return True


def test_make_run_serves_the_api_and_stops_cleanly(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    var_dir = tmp_path_factory.mktemp("make-run") / "var"
    system = start_make_run(var_dir)
    try:
        key = system.admin_key()
        key_file = var_dir / "admin-api-key"
        assert key_file.read_text().strip() == key
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        assert stat.S_IMODE((var_dir / "secret.key").stat().st_mode) == 0o600
        assert (var_dir / "mailbridge.db").exists()
        assert (var_dir / "jetstream").is_dir()
        headers = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=f"{system.base_url}/api/v1", headers=headers) as client:
            server = client.post(
                "/mail-servers",
                json={
                    "name": "Office", "smtp_host": "smtp.example.com",
                    "incoming_protocol": "imap", "incoming_host": "imap.example.com",
                },
            )  # fmt: skip
            assert server.status_code == 201, server.text
            user = client.post("/users", json={"name": "Ann", "email": "ann@example.com"}).json()
            account = client.post(
                "/mail-accounts",
                json={
                    "owner": {"type": "user", "id": user["id"]}, "server_id": server.json()["id"],
                    "login": "ann@example.com", "address": "ann@example.com", "password": "pw",
                },
            )  # fmt: skip
            assert account.status_code == 201, account.text
            assert account.json()["has_password"] is True
        assert httpx.get(f"{system.base_url}/docs").status_code == 200
        nats_url = system.nats_url()
        assert _listening(nats_url)
    finally:
        system.interrupt()
    assert not _listening(system.base_url)
    assert not _listening(nats_url)

    again = start_make_run(var_dir)
    try:
        assert "mbk_" not in again.output(), "the admin key is printed on first start only"
        headers = {"Authorization": f"Bearer {key}"}
        listed = httpx.get(f"{again.base_url}/api/v1/mail-accounts", headers=headers)
        assert [a["address"] for a in listed.json()["items"]] == ["ann@example.com"]
    finally:
        again.interrupt()
