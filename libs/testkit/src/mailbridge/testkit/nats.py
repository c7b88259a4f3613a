"""NATS for the tests: MAILBRIDGE_TEST_NATS_URL, else a real nats-server from the wheel."""

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mailbridge.common.nats_embedded import start_embedded_nats

ENV_URL = "MAILBRIDGE_TEST_NATS_URL"


@contextmanager
def nats_server() -> Iterator[str]:
    """Yield a NATS URL with JetStream; a server started here is stopped afterwards."""
    configured = os.environ.get(ENV_URL)
    if configured:
        yield configured
        return
    with tempfile.TemporaryDirectory(prefix="mb-nats-") as store:
        server = start_embedded_nats(Path(store))
        try:
            yield server.url
        finally:
            server.stop()
