"""The runner's services as child processes: a service that dies is started again, never the end.

A death is logged with the service, how it ended (exit code or signal) and when it will start
again. Restarts back off: 1 s after the first death, doubling up to 30 s while the service keeps
dying; a service that had run for a minute before it died starts again after 1 s. Stopping
(Ctrl-C, SIGTERM) terminates every child, waits, and kills what is left.
"""

import logging
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

logger = logging.getLogger("mailbridge.runner")


class Child(Protocol):
    """What the supervisor needs of a process (subprocess.Popen, or a fake in unit tests)."""

    @property
    def pid(self) -> int: ...

    def poll(self) -> int | None: ...

    def terminate(self) -> None: ...

    def kill(self) -> None: ...

    def wait(self, timeout: float | None = None) -> int: ...


@dataclass(frozen=True)
class Backoff:
    first_s: float = 1.0
    cap_s: float = 30.0
    healthy_after_s: float = 60.0  # a run this long forgets the deaths before it

    def delay_s(self, deaths_in_a_row: int) -> float:
        return float(min(self.cap_s, self.first_s * 2 ** max(0, deaths_in_a_row - 1)))


def describe_exit(returncode: int) -> str:
    """`exit code 3` or `signal SIGKILL` (Popen reports death by signal N as -N)."""
    if returncode >= 0:
        return f"exit code {returncode}"
    try:
        return f"signal {signal.Signals(-returncode).name}"
    except ValueError:
        return f"signal {-returncode}"


@dataclass
class Service:
    module: str
    child: Child | None = None
    started_at: float = 0.0
    deaths_in_a_row: int = 0
    restart_at: float | None = None


class Supervisor:
    def __init__(
        self,
        modules: list[str],
        spawn: Callable[[str], Child],
        backoff: Backoff = Backoff(),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.services = [Service(module) for module in modules]
        self._spawn, self._backoff, self._clock = spawn, backoff, clock

    def start_all(self) -> None:
        for service in self.services:
            self._start(service)

    def check(self) -> None:
        """Notice deaths and start what is due; called every fraction of a second."""
        now = self._clock()
        for service in self.services:
            if service.child is not None and (code := service.child.poll()) is not None:
                self._died(service, code, now)
            if service.restart_at is not None and now >= service.restart_at:
                self._start(service)

    def stop_all(self, grace_s: float = 10.0) -> None:
        children = [s.child for s in reversed(self.services) if s.child is not None]
        for child in children:
            if child.poll() is None:
                child.terminate()
        deadline = time.monotonic() + grace_s
        for child in children:
            try:
                child.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()

    def _start(self, service: Service) -> None:
        service.child = self._spawn(service.module)
        service.started_at, service.restart_at = self._clock(), None

    def _died(self, service: Service, code: int, now: float) -> None:
        assert service.child is not None
        ran_s = now - service.started_at
        service.deaths_in_a_row = 1 if ran_s >= self._backoff.healthy_after_s else service.deaths_in_a_row + 1
        delay = self._backoff.delay_s(service.deaths_in_a_row)
        logger.error(
            "%s (pid %d) died with %s after %.0f s; restarting it in %.0f s (death %d in a row)",
            service.module, service.child.pid, describe_exit(code), ran_s, delay, service.deaths_in_a_row,
            extra={"service": service.module, "returncode": code, "restart_in_s": delay},
        )  # fmt: skip
        service.child, service.restart_at = None, now + delay
