"""Assertions on the credentials test's step reports (T1), shared by the fetcher's, sender's and
config-api's tests: which step failed with which code, and that the others passed or were skipped
naming it."""

from collections.abc import Sequence

from mailbridge.common.credential_checks import CheckReply, Code, Status, Step, StepReport

Steps = CheckReply | Sequence[StepReport]


def _steps(found: Steps) -> Sequence[StepReport]:
    return found.steps if isinstance(found, CheckReply) else found


def by_step(found: Steps) -> dict[Step, StepReport]:
    return {report.step: report for report in _steps(found)}


def failed_at(found: Steps, step: Step, code: Code) -> None:
    """`step` failed with `code`, the steps before it passed, the ones after it were skipped
    with a reason that names it."""
    steps = _steps(found)
    seen = by_step(steps)
    assert seen[step].status is Status.FAILED, seen[step]
    assert seen[step].code is code, seen[step]
    order = [report.step for report in steps]
    for before in order[: order.index(step)]:
        assert seen[before].status is Status.OK, seen[before]
    for after in order[order.index(step) + 1 :]:
        assert seen[after].status is Status.SKIPPED, seen[after]
        assert step.value in seen[after].message, seen[after]
