"""The containers' health check (Docker HEALTHCHECK, Kubernetes exec probes), standard library only.

Until every service serves /healthz and /readyz over HTTP (the Operations part of issue #15),
the fetcher, the sender and the OAuth broker listen on no port, so their images check from the
inside what a readiness probe should mean for them:

- `ready`: the database and NATS are reachable: a TCP connection to every host of
  MAILBRIDGE_NATS_URL (one of a comma-separated cluster list is enough) and to the host of
  MAILBRIDGE_DATABASE_URL (a SQLite file is there by definition). Not a login: the service
  itself reconnects, this only tells whether it can.
- `live`: process 1 (the service) is running, not a zombie or stopped; a service whose work
  cannot go on exits, and the container is restarted for that.
- `http URL`: a GET that answers 2xx (the configuration API's /healthz).

Exit code 0 healthy, 1 not, 2 for a wrong call.
"""

import os
import socket
import sys
import urllib.error
import urllib.request
from urllib.parse import urlsplit

TIMEOUT_S = 3.0
DEFAULT_PORTS = {"nats": 4222, "tls": 4222, "postgresql": 5432, "postgres": 5432}


def endpoint(url: str) -> tuple[str, int] | None:
    """(host, port) a URL points at; None for one without a network host (SQLite)."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.split("+", 1)[0]
    if scheme == "sqlite" or not parts.hostname:
        return None
    return parts.hostname, parts.port or DEFAULT_PORTS.get(scheme, 0)


def reachable(host: str, port: int, timeout_s: float = TIMEOUT_S) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def ready(environ: dict[str, str]) -> list[str]:
    """What is not reachable (empty: ready)."""
    problems = []
    nats = [endpoint(url) for url in environ.get("MAILBRIDGE_NATS_URL", "").split(",") if url.strip()]
    servers = [server for server in nats if server is not None]
    if not servers:
        problems.append("MAILBRIDGE_NATS_URL is not set")
    elif not any(reachable(*server) for server in servers):
        problems.append("NATS is not reachable at " + ", ".join(f"{h}:{p}" for h, p in servers))
    database = endpoint(environ.get("MAILBRIDGE_DATABASE_URL", "") or "sqlite://")
    if database is not None and not reachable(*database):
        problems.append(f"the database is not reachable at {database[0]}:{database[1]}")
    return problems


def live(stat_path: str = "/proc/1/stat") -> list[str]:
    """Process 1's state from /proc: R, S, D, I are alive; Z, T, t, X, x are not."""
    with open(stat_path) as handle:
        state = handle.read().rsplit(")", 1)[1].split()[0]
    return [] if state in "RSDI" else [f"process 1 is in state {state}"]


def http_ok(url: str) -> list[str]:
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:  # noqa: S310 (our own URL)
            return [] if 200 <= response.status < 300 else [f"{url} answered {response.status}"]
    except urllib.error.HTTPError as error:
        return [f"{url} answered {error.code}"]
    except OSError as error:
        return [f"{url}: {error}"]


def main(argv: list[str]) -> int:
    if argv[:1] == ["ready"] and len(argv) == 1:
        problems = ready(dict(os.environ))
    elif argv[:1] == ["live"] and len(argv) == 1:
        problems = live()
    elif argv[:1] == ["http"] and len(argv) == 2:
        problems = http_ok(argv[1])
    else:
        print("usage: healthcheck.py ready | live | http URL", file=sys.stderr)
        return 2
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
