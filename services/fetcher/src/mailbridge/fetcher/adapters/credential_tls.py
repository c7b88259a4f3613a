"""TLS in the credentials test's incoming steps (T1): what the step reports when it worked, and
`plain_on_tls_port` found by a probe when a plain client waited for a greeting in vain."""

from mailbridge.common import credential_probes as probes
from mailbridge.common.credential_diagnosis import plain_on_tls_port
from mailbridge.common.endpoints import Endpoint, TransportSecurity
from mailbridge.fetcher import credential_diagnosis as diagnose


async def plain_on_tls(failure: BaseException, endpoint: Endpoint) -> None:
    """A plain (or STARTTLS) client that got no greeting: raise `plain_on_tls_port` when the port
    answers a TLS handshake."""
    if endpoint.security is TransportSecurity.IMPLICIT_TLS or not diagnose.timed_out(failure):
        return
    if await probes.speaks_tls(endpoint.host, endpoint.port, endpoint.timeout_s):
        where = f"{endpoint.host}:{endpoint.port}"
        raise diagnose.Diagnosed(plain_on_tls_port(where, diagnose.SETTING)) from failure


def secured(endpoint: Endpoint) -> str:
    where = f"{endpoint.host}:{endpoint.port}"
    if endpoint.security is TransportSecurity.IMPLICIT_TLS:
        return f"{where} greeted over TLS (implicit TLS), certificate trusted"
    if endpoint.security is TransportSecurity.STARTTLS:
        return f"{where} upgraded to TLS with STARTTLS, certificate trusted"
    return f"{where} greeted in plain text: the server is set to use no TLS"
