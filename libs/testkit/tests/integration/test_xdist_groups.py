"""`make test` runs pytest-xdist with --dist loadgroup: the tests of one `xdist_group` (the heavy
end-to-end suites) run on one worker, under pytest 9 too (`testkit.xdist_groups`). A pytest run
of its own (a subprocess, two workers) over grouped and ungrouped tests says which worker ran
what."""

import os
import re
import subprocess
import sys
from pathlib import Path

GROUPED = """
import time

import pytest

pytestmark = [pytest.mark.skipif(False, reason="a list of marks, as test_fault_survival's"),
              pytest.mark.xdist_group("heavy")]


@pytest.mark.parametrize("n", [1, 2])
def test_grouped(n):
    time.sleep(0.3)
"""
LOOSE = """
import time


def test_loose():
    time.sleep(0.3)
"""
RAN = re.compile(r"^\[(gw\d+)\] .*PASSED (\S+)", re.MULTILINE)


def test_a_group_runs_on_one_worker(tmp_path: Path) -> None:
    for index in range(3):
        (tmp_path / f"test_grouped_{index}.py").write_text(GROUPED)
    for index in range(6):
        (tmp_path / f"test_loose_{index}.py").write_text(LOOSE)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    environment = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_XDIST")}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "2", "--dist", "loadgroup", "-v", "-p", "no:cacheprovider",
         "-p", "mailbridge.testkit.xdist_groups", "-c", str(tmp_path / "pytest.ini"), "--rootdir", str(tmp_path),
         str(tmp_path)],
        capture_output=True, text=True, cwd=tmp_path, env=environment, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    ran = RAN.findall(done.stdout)
    assert len(ran) == 12, done.stdout
    grouped = {worker for worker, test in ran if "test_grouped" in test}
    assert len(grouped) == 1, f"the group ran on {sorted(grouped)}:\n{done.stdout}"
    assert all(test.endswith("@heavy") for _, test in ran if "test_grouped" in test)
