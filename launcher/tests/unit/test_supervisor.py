"""The runner's supervisor (#10 item 8): a dead service starts again with a backoff, and says why."""

import logging

import pytest
from mailbridge.launcher.supervisor import Backoff, Supervisor, describe_exit


class FakeChild:
    """A process that lives until the test ends it."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self.terminated = False

    def poll(self) -> int | None:
        return self.returncode

    def terminate(self) -> None:
        self.terminated, self.returncode = True, -15

    def kill(self) -> None:
        self.returncode = -9

    def wait(self, timeout: float | None = None) -> int:
        assert self.returncode is not None
        return self.returncode


class World:
    def __init__(self) -> None:
        self.now = 0.0
        self.spawned: list[tuple[str, FakeChild]] = []

    def spawn(self, module: str) -> FakeChild:
        child = FakeChild(100 + len(self.spawned))
        self.spawned.append((module, child))
        return child

    def running(self, module: str) -> FakeChild:
        return [child for name, child in self.spawned if name == module][-1]

    def starts_of(self, module: str) -> int:
        return sum(1 for name, _ in self.spawned if name == module)


def _supervisor(world: World) -> Supervisor:
    supervisor = Supervisor(["api", "fetcher"], world.spawn, Backoff(), clock=lambda: world.now)
    supervisor.start_all()
    return supervisor


def test_exit_descriptions() -> None:
    assert describe_exit(3) == "exit code 3"
    assert describe_exit(-9) == "signal SIGKILL"
    assert describe_exit(-200) == "signal 200"


def test_backoff_doubles_to_its_cap() -> None:
    assert [Backoff().delay_s(n) for n in (1, 2, 3, 5, 6, 20)] == [1, 2, 4, 16, 30, 30]


def test_a_dead_service_is_restarted_after_the_backoff_and_the_death_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    world = World()
    supervisor = _supervisor(world)
    world.now = 5.0
    world.running("fetcher").returncode = -9
    with caplog.at_level(logging.ERROR, "mailbridge.runner"):
        supervisor.check()
    assert "fetcher (pid 101) died with signal SIGKILL after 5 s; restarting it in 1 s" in caplog.text
    world.now = 5.9
    supervisor.check()
    assert world.starts_of("fetcher") == 1
    world.now = 6.0
    supervisor.check()
    assert world.starts_of("fetcher") == 2
    assert world.starts_of("api") == 1, "the others keep running"

    world.now = 7.0
    world.running("fetcher").returncode = 1
    supervisor.check()
    world.now = 8.5
    supervisor.check()
    assert world.starts_of("fetcher") == 2, "the second death in a row waits 2 s"
    world.now = 9.0
    supervisor.check()
    assert world.starts_of("fetcher") == 3
    assert "died with exit code 1 after 1 s; restarting it in 2 s (death 2 in a row)" in caplog.text


def test_a_service_that_ran_a_while_starts_again_after_the_first_delay(
    caplog: pytest.LogCaptureFixture,
) -> None:
    world = World()
    supervisor = _supervisor(world)
    for _ in range(4):
        world.running("fetcher").returncode = 2
        supervisor.check()
        world.now += 30
        supervisor.check()
    world.now += 120
    world.running("fetcher").returncode = 2
    with caplog.at_level(logging.ERROR, "mailbridge.runner"):
        supervisor.check()
    assert "restarting it in 1 s (death 1 in a row)" in caplog.text


def test_stop_all_ends_every_child() -> None:
    world = World()
    supervisor = _supervisor(world)
    supervisor.stop_all()
    assert all(child.terminated for _, child in world.spawned)
