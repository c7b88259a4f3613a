"""The private CA: made once, reused, and verified by a client that trusts only it."""

import socket
import ssl
import threading
from pathlib import Path

import pytest
from mailbridge.testkit.tls import ensure_tls_files


def _handshake(server_context: ssl.SSLContext, client_context: ssl.SSLContext, name: str) -> str:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]

        def serve() -> None:
            connection, _ = listener.accept()
            try:
                with server_context.wrap_socket(connection, server_side=True):
                    pass
            except (ssl.SSLError, OSError):
                pass

        thread = threading.Thread(target=serve)
        thread.start()
        try:
            with (
                socket.create_connection(("127.0.0.1", port)) as raw,
                client_context.wrap_socket(raw, server_hostname=name) as tls,
            ):
                return str(tls.version())
        finally:
            thread.join()


def test_files_are_made_once_then_reused(tmp_path: Path) -> None:
    first = ensure_tls_files(tmp_path / "tls")
    stamp = first.server_cert.stat().st_mtime_ns
    again = ensure_tls_files(tmp_path / "tls")
    assert again == first
    assert again.server_cert.stat().st_mtime_ns == stamp
    assert not (tmp_path / "tls" / "ca.key").exists()


@pytest.mark.parametrize("name", ["localhost", "127.0.0.1", "::1"])
def test_the_server_certificate_verifies_for_each_loopback_name(tmp_path: Path, name: str) -> None:
    files = ensure_tls_files(tmp_path / "tls")
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(files.server_cert, files.server_key)
    assert _handshake(server, files.client_context(), name).startswith("TLS")


def test_another_name_fails_verification(tmp_path: Path) -> None:
    files = ensure_tls_files(tmp_path / "tls")
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(files.server_cert, files.server_key)
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(server, files.client_context(), "mail.example.com")
