"""`xdist_group` marks honoured under pytest 9 (`make test`: pytest-xdist `--dist loadgroup`).

pytest-xdist's loadgroup puts a test's group into its node id (`…::test_a@heavy-e2e`), which its
scheduler reads to send a whole group to one worker. pytest-xdist 3.8 does it by assigning
`item._nodeid`, which pytest 9 no longer reads (a node's id is `item._id` now): the suffix is lost
and every grouped test is scheduled on its own, so the heavy end-to-end suites ran side by side.
This hook, run after xdist's on a worker, adds the suffix the same way when it is missing; once
pytest-xdist sets it itself, it finds it there and does nothing.
"""

import pytest
from _pytest.nodeid import coerce_node_id


def _groups(item: pytest.Item) -> list[str]:
    return sorted({
        str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
        for mark in item.iter_markers("xdist_group")
    })  # fmt: skip


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not getattr(config.option, "loadgroup", False):  # set on a worker of --dist loadgroup
        return
    for item in items:
        groups = _groups(item)
        if groups and "@" not in item.nodeid.rpartition("]")[2]:
            item._id = coerce_node_id(f"{item.nodeid}@{'_'.join(groups)}")
