"""One `make run` for the end-to-end tests that only read and write through the API."""

from collections.abc import Iterator

import pytest
from e2e_system import RunningSystem, start_make_run


@pytest.fixture(scope="session")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSystem]:
    running = start_make_run(tmp_path_factory.mktemp("system") / "var")
    try:
        yield running
    finally:
        if running.process.poll() is None:
            running.interrupt()
