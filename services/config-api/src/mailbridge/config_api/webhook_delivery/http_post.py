"""One webhook attempt over HTTP (#18): check the target again, connect to the checked address.

The host is resolved here, every address it resolves to is checked (`webhooks.targets`), and the
connection goes to those checked addresses (the next only when one refuses the connection), with
the original Host header and TLS server name: a DNS answer that changes between the check and the
connection (rebinding) cannot redirect it. Redirects are not followed (a 3xx is a failed attempt);
proxies from the environment are not used; the answer's body is never read. One timeout bounds
the whole attempt, a server trickling its answer included.
"""

import asyncio
import socket
import time
from dataclasses import dataclass
from urllib.parse import SplitResult

import httpx
from mailbridge.config_api.webhooks.targets import (
    Address,
    TargetRefused,
    check_address,
    literal_address,
    parse_target,
)

USER_AGENT = "Mailbridge-Webhooks/1"


@dataclass(frozen=True)
class AttemptResult:
    outcome: str  # delivered, http_error, timeout, connect_error, refused_target
    response_code: int | None
    error: str | None
    duration_ms: int


async def _addresses(host: str, port: int) -> list[Address]:
    literal = literal_address(host)
    if literal is not None:
        return [literal]
    try:
        found = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as error:  # UnicodeError: a name IDNA refuses
        raise TargetRefused(f"{host} does not resolve: {error}") from error
    addresses = [literal_address(str(sockaddr[0]).split("%")[0]) for *_, sockaddr in found]
    if not addresses or None in addresses:
        raise TargetRefused(f"{host} resolved to no usable address")
    return [a for a in addresses if a is not None]


async def _first_answer(
    client: httpx.AsyncClient, parts: SplitResult, port: int, addresses: list[Address], body: bytes,
    headers: dict[str, str], extensions: dict[str, str],
) -> int:  # fmt: skip
    """The status code from the first checked address that takes the connection (in the order
    the resolver gave them, e.g. ::1 and then 127.0.0.1 for localhost)."""
    for index, address in enumerate(addresses):
        netloc = f"[{address}]:{port}" if address.version == 6 else f"{address}:{port}"
        target = parts._replace(netloc=netloc).geturl()
        try:
            async with client.stream(
                "POST", target, content=body, headers=headers, extensions=extensions
            ) as answer:
                return answer.status_code
        except httpx.ConnectError:
            if index == len(addresses) - 1:
                raise
    raise AssertionError("no address to connect to")  # _addresses never returns none


async def post(
    url: str, headers: dict[str, str], body: bytes, timeout_s: float, allow_private: bool
) -> AttemptResult:
    started = time.monotonic()

    def result(outcome: str, code: int | None, error: str | None) -> AttemptResult:
        return AttemptResult(outcome, code, error, round((time.monotonic() - started) * 1000))

    try:
        parts = parse_target(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        async with asyncio.timeout(timeout_s):
            addresses = await _addresses(host, port)
        for address in addresses:
            check_address(address, allow_private)
    except TargetRefused as error:
        return result("refused_target", None, str(error))
    except TimeoutError:
        return result("timeout", None, f"{parts.hostname} did not resolve within {timeout_s} s")
    extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
    sent = {"Host": parts.netloc, "Content-Type": "application/json", "User-Agent": USER_AGENT, **headers}
    try:
        async with (
            asyncio.timeout(timeout_s),  # the whole exchange, a server trickling its answer too
            httpx.AsyncClient(timeout=timeout_s, follow_redirects=False, trust_env=False) as client,
        ):
            code = await _first_answer(client, parts, port, addresses, body, sent, extensions)
    except (httpx.TimeoutException, TimeoutError):
        return result("timeout", None, f"no answer within {timeout_s} s")
    except httpx.HTTPError as error:
        return result("connect_error", None, f"{type(error).__name__}: {error}"[:500])
    if 200 <= code < 300:
        return result("delivered", code, None)
    reason = "a redirect (not followed)" if 300 <= code < 400 else f"HTTP {code}"
    return result("http_error", code, reason)
