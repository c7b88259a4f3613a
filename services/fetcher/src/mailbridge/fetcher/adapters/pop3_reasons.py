"""What went wrong in a POP3 step, in words a person can act on (#10 item 9).

A reason names the server, the step and what happened; it quotes a server's reply short and
escaped (never raw binary), and mentions TLS only when the conversation was encrypted. Which
failures are permanent is decided here, as data: an untrusted certificate, a greeting that is
not POP3, a refused login; everything else (timeouts, dropped
connections, garbage in mid-session, an over-long answer) is retried with backoff.
"""

import poplib
import socket
import ssl

from mailbridge.common.certificates import certificate_problem
from mailbridge.common.printable import printable
from mailbridge.fetcher.adapters.pop3_client import Cut
from mailbridge.fetcher.failures import FetchFailure, permanent, transient
from mailbridge.fetcher.pop3_wire import TooLarge

QUOTE_MAX = 120  # characters of a server's reply quoted in a reason


def where(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def quoted(reply: object) -> str:
    """A server's reply, short and printable, in quotes."""
    text = reply if isinstance(reply, bytes | str) else str(reply)
    return f'"{printable(text, QUOTE_MAX)}"'


def explain(error: BaseException, step: str, at: str, encrypted: bool) -> FetchFailure:
    if isinstance(error, FetchFailure):
        return error
    if isinstance(error, poplib.error_proto):
        return _protocol(error, step, at, encrypted)
    if isinstance(error, TooLarge):
        return transient(f"{at} sent too much in answer to {step}: {error}; the connection was dropped")
    if isinstance(error, Cut):
        return transient(f"{at} too slow during {step}: the connection was cut")
    if isinstance(error, ssl.SSLCertVerificationError):  # #17: the same verdict and reason everywhere
        return permanent(certificate_problem(error, at).reason)
    if isinstance(error, ssl.SSLError):
        return transient(f"TLS with {at} failed during {step}: {error.reason or error}")
    if isinstance(error, socket.timeout | TimeoutError):
        return transient(f"{at} did not answer {step} in time")
    if isinstance(error, OSError):
        detail = error.strerror or type(error).__name__
        if step == "the greeting":
            return transient(f"cannot connect to {at}: {detail}")
        return transient(f"connection to {at} lost during {step}: {detail}")
    if isinstance(error, UnicodeError | ValueError):
        return transient(f"{at} answered {step} with something unexpected: {error}")
    return transient(f"{step} with {at} failed: {type(error).__name__}: {error}")


def _protocol(error: poplib.error_proto, step: str, at: str, encrypted: bool) -> FetchFailure:
    """poplib's one exception: a refusal (-ERR), a reply that is not POP3, a long line, EOF."""
    reply = error.args[0] if error.args else b""
    tls = " over TLS" if encrypted else ""
    if reply in (b"-ERR EOF", "-ERR EOF"):
        return transient(f"{at} closed the connection during {step}{tls}")
    if reply == "line too long":
        return transient(f"{at} sent a line longer than POP3 allows during {step}{tls}")
    refused = isinstance(reply, bytes) and reply.startswith(b"-ERR")
    if step == "the greeting":
        return permanent(f"{at} does not answer like a POP3 server{tls}: {quoted(reply)}")
    if not refused:
        return transient(f"{at} answered {step}{tls} with something that is not POP3: {quoted(reply)}")
    if step.startswith("login as "):
        return permanent(f"{step} at {at} rejected: {quoted(reply)}")
    return transient(f"{at} refused {step}: {quoted(reply)}")
