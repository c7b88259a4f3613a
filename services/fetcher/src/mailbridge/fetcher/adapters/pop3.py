"""POP3 through the standard library's poplib, run in a worker thread (it blocks).

Deletion is two-phase by protocol: DELE marks, QUIT commits (RFC 1939 §6). The session only
marks messages the caller names, and the caller names only messages already committed to the
store, so a crash anywhere before QUIT deletes nothing.
"""

import asyncio
import poplib
import ssl
from dataclasses import dataclass

from mailbridge.common.endpoints import TransportSecurity
from mailbridge.fetcher.failures import permanent, transient


@dataclass(frozen=True)
class Pop3Endpoint:
    host: str
    port: int
    security: TransportSecurity
    ssl_context: ssl.SSLContext
    timeout_s: float = 30.0


class Pop3Mailbox:
    """One POP3 session; every method is a coroutine that runs poplib in a thread."""

    def __init__(self, endpoint: Pop3Endpoint) -> None:
        self._endpoint = endpoint
        self._client: poplib.POP3 | None = None

    async def connect_and_login(self, user: str, password: str) -> None:
        await asyncio.to_thread(self._connect_and_login, user, password)

    def _connect_and_login(self, user: str, password: str) -> None:
        end = self._endpoint
        try:
            if end.security is TransportSecurity.IMPLICIT_TLS:
                client: poplib.POP3 = poplib.POP3_SSL(
                    end.host, end.port, timeout=end.timeout_s, context=end.ssl_context
                )
            else:
                client = poplib.POP3(end.host, end.port, timeout=end.timeout_s)
                if end.security is TransportSecurity.STARTTLS:
                    client.stls(end.ssl_context)
        except ssl.SSLCertVerificationError as error:
            reason = f"TLS certificate of {end.host} not trusted: {error.verify_message}"
            raise permanent(reason) from error
        except poplib.error_proto as error:
            reason = f"{end.host}:{end.port} does not answer like a POP3 server with TLS: {_reply(error)}"
            raise permanent(reason[:300]) from error
        except OSError as error:
            raise transient(f"cannot connect to {end.host}:{end.port}: {error}") from error
        self._client = client
        try:
            client.user(user)
            client.pass_(password)
        except poplib.error_proto as error:
            raise permanent(f"login as {user} rejected: {_reply(error)}") from error
        except OSError as error:
            raise transient(f"connection to {end.host} lost during login: {error}") from error

    async def uidls(self) -> dict[str, int]:
        """UIDL → message number for every message in the maildrop."""
        return await asyncio.to_thread(self._uidls)

    def _uidls(self) -> dict[str, int]:
        client = self._require()
        try:
            _, lines, _ = client.uidl()
        except (poplib.error_proto, OSError) as error:
            raise transient(f"UIDL failed: {error}") from error
        found: dict[str, int] = {}
        for line in lines:
            number, _, uidl = line.decode("ascii", errors="replace").partition(" ")
            found[uidl.strip()] = int(number)
        return found

    async def retrieve(self, number: int) -> bytes:
        return await asyncio.to_thread(self._retrieve, number)

    def _retrieve(self, number: int) -> bytes:
        try:
            _, lines, _ = self._require().retr(number)
        except (poplib.error_proto, OSError) as error:
            raise transient(f"RETR {number} failed: {error}") from error
        return b"\r\n".join(lines) + b"\r\n"

    async def delete_and_quit(self, numbers: list[int]) -> None:
        """Mark `numbers` deleted and QUIT, which commits the deletion on the server."""
        await asyncio.to_thread(self._delete_and_quit, numbers)

    def _delete_and_quit(self, numbers: list[int]) -> None:
        client = self._require()
        try:
            for number in numbers:
                client.dele(number)
            client.quit()
        except (poplib.error_proto, OSError) as error:
            raise transient(f"deleting on the server failed: {error}") from error
        finally:
            self._client = None

    async def close(self) -> None:
        """Leave without committing deletions (RSET semantics of a dropped connection)."""
        client, self._client = self._client, None
        if client is not None:
            await asyncio.to_thread(_close_quietly, client)

    def _require(self) -> poplib.POP3:
        assert self._client is not None, "connect first"
        return self._client


def _close_quietly(client: poplib.POP3) -> None:
    try:
        client.rset()
        client.quit()
    except (poplib.error_proto, OSError):
        client.close()


def _reply(error: poplib.error_proto) -> str:
    text = error.args[0] if error.args else b""
    return text.decode(errors="replace") if isinstance(text, bytes) else str(text)
