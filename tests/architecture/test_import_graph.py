"""What may import what, checked over the source (#12): the rooms of the README's "Layout".

- `libs/common` (mailbridge.common) is shared by everyone and imports no service and not the
  launcher; `libs/testkit` (mailbridge.testkit) serves every service's tests and imports none of
  them; no runtime code imports the testkit.
- A service (every package under `services/*/src/mailbridge/`, found on disk, so a fifth one is
  covered without an edit) imports only libs/common: never another service, never the launcher.
- The launcher (mailbridge.launcher) is the composition root: it may import every service.

The graph is read with `ast` from every module's source, imports inside functions included (a lazy
import is still a dependency). The stdlib is enough: import-linter would add a dependency (and
grimp) for the same prefix rules, and a fake graph here is a plain dict.

A rule is one `Forbidden(importer, imported, unless=...)` line over module prefixes. "A use-case
imports no adapter" is one more line in `rules()`, for the services in `USE_CASES_ON_PORTS` (the
rest of #12 adds the others):

    *(Forbidden(f"mailbridge.{s}", f"mailbridge.{s}.adapters", unless=(f"mailbridge.{s}.main",
      f"mailbridge.{s}.adapters")) for s in services),
"""

import ast
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
COMMON, TESTKIT, LAUNCHER = "mailbridge.common", "mailbridge.testkit", "mailbridge.launcher"
SOURCE_ROOTS = ("libs/*/src", "services/*/src", "launcher/src")
Graph = Mapping[str, Iterable[str]]  # module → the modules it imports
# Services whose adapters only main.py and adapters import.
USE_CASES_ON_PORTS = {"mailbridge.fetcher", "mailbridge.sender", "mailbridge.oauth_broker"}


def within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


@dataclass(frozen=True)
class Forbidden:
    importer: str
    imported: str
    unless: tuple[str, ...] = ()  # importers under `importer` the rule exempts

    def broken_by(self, module: str, target: str) -> bool:
        return (
            within(module, self.importer)
            and within(target, self.imported)
            and not any(within(module, exempt) for exempt in self.unless)
        )


def services(root: Path = ROOT) -> list[str]:
    """Every service package: `mailbridge.<name>` under services/*/src/mailbridge/."""
    return sorted(f"mailbridge.{p.name}" for p in root.glob("services/*/src/mailbridge/*") if p.is_dir())


def rules(services: list[str]) -> list[Forbidden]:
    return [
        *(Forbidden(a, b) for a in services for b in services if a != b),
        *(Forbidden(service, LAUNCHER) for service in services),
        *(Forbidden(COMMON, target) for target in (*services, LAUNCHER, TESTKIT)),
        *(Forbidden(TESTKIT, target) for target in (*services, LAUNCHER)),
        *(Forbidden(runtime, TESTKIT) for runtime in (*services, LAUNCHER)),
        *(
            Forbidden(s, f"{s}.adapters", unless=(f"{s}.main", f"{s}.adapters"))
            for s in services
            if s in USE_CASES_ON_PORTS
        ),
    ]


def violations(graph: Graph, forbidden: Iterable[Forbidden]) -> list[str]:
    """`importer imports imported` for every import a rule forbids, sorted."""
    found = {
        f"{module} imports {target}"
        for module, targets in graph.items()
        for target in targets
        for rule in forbidden
        if rule.broken_by(module, target)
    }
    return sorted(found)


def _module_name(path: Path, src: Path) -> str:
    parts = path.relative_to(src).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(tree: ast.AST, module: str, is_package: bool) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolved against this module's package
                package = module.split(".")[: len(module.split(".")) - node.level + is_package]
                base = ".".join([*package, *([base] if base else [])])
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
    return names


def source_graph(root: Path = ROOT) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for src in (path for pattern in SOURCE_ROOTS for path in root.glob(pattern)):
        for path in src.rglob("*.py"):
            module = _module_name(path, src)
            tree = ast.parse(path.read_bytes(), str(path))
            graph[module] = _imports(tree, module, path.name == "__init__.py")
    return graph


def test_the_source_keeps_the_rooms_apart() -> None:
    graph = source_graph()
    found = services()
    assert {"mailbridge.config_api", "mailbridge.fetcher", "mailbridge.sender"} <= set(found)
    assert "mailbridge.oauth_broker" in found
    assert any(within(module, LAUNCHER) for module in graph), "the launcher's source is read"
    assert violations(graph, rules(found)) == []


FAKE_SERVICES = ["mailbridge.fetcher", "mailbridge.sender"]


@pytest.mark.parametrize(
    ("importer", "imported"),
    [
        ("mailbridge.fetcher.changes", "mailbridge.sender.mime"),  # a service imports another
        ("mailbridge.sender", "mailbridge.fetcher"),
        ("mailbridge.common.events", "mailbridge.fetcher.model"),  # common imports a service
        ("mailbridge.common.db", "mailbridge.launcher.runner"),  # common imports the launcher
        ("mailbridge.fetcher.main", "mailbridge.launcher"),  # a service imports the launcher
        ("mailbridge.sender.adapters.smtp", "mailbridge.testkit.smtp"),  # runtime code, the testkit
        ("mailbridge.testkit.fixtures", "mailbridge.sender.settings"),  # the testkit, a service
        ("mailbridge.sender.send_outbox", "mailbridge.sender.adapters.store"),  # a use-case, an adapter
        ("mailbridge.fetcher.fetch_account", "mailbridge.fetcher.adapters.imap"),
        ("mailbridge.fetcher.changes", "mailbridge.fetcher.adapters.store"),
    ],
)
def test_a_forbidden_import_is_reported(importer: str, imported: str) -> None:
    graph = {importer: {"mailbridge.common.events", imported}}
    assert violations(graph, rules(FAKE_SERVICES)) == [f"{importer} imports {imported}"]


def test_what_the_rooms_allow_is_not_reported() -> None:
    graph = {
        "mailbridge.launcher.runner": {"mailbridge.fetcher", "mailbridge.sender.main", "mailbridge.common"},
        "mailbridge.fetcher.main": {"mailbridge.fetcher.adapters.store", "mailbridge.common.streams"},
        "mailbridge.fetchers_archive": {"mailbridge.sender"},  # a prefix is a whole package name
        "mailbridge.testkit.fixtures": {"mailbridge.common.db"},
    }
    assert violations(graph, rules(FAKE_SERVICES)) == []


def test_a_rule_with_exemptions_is_one_line() -> None:
    """The shape of the use-case rule the docstring shows: adapters only from main and adapters."""
    rule = Forbidden(
        "mailbridge.fetcher", "mailbridge.fetcher.adapters",
        unless=("mailbridge.fetcher.main", "mailbridge.fetcher.adapters"),
    )  # fmt: skip
    graph = {
        "mailbridge.fetcher.fetch_account": {"mailbridge.fetcher.adapters.imap"},
        "mailbridge.fetcher.main": {"mailbridge.fetcher.adapters.store"},
        "mailbridge.fetcher.adapters.store": {"mailbridge.fetcher.adapters.leases"},
    }
    assert violations(graph, [rule]) == [
        "mailbridge.fetcher.fetch_account imports mailbridge.fetcher.adapters.imap"
    ]


def test_relative_and_lazy_imports_are_read(tmp_path: Path) -> None:
    package = tmp_path / "services/fetcher/src/mailbridge/fetcher"
    (package / "adapters").mkdir(parents=True)
    (package / "__init__.py").write_text("from . import sync\n")
    (package / "adapters/store.py").write_text(
        "from ..model import Row\n\ndef later() -> None:\n    import mailbridge.sender.mime\n"
    )
    graph = source_graph(tmp_path)
    assert graph["mailbridge.fetcher"] == {"mailbridge.fetcher", "mailbridge.fetcher.sync"}
    assert graph["mailbridge.fetcher.adapters.store"] == {
        "mailbridge.fetcher.model", "mailbridge.fetcher.model.Row", "mailbridge.sender.mime",
    }  # fmt: skip
    assert services(tmp_path) == ["mailbridge.fetcher"]
    assert violations(graph, rules(["mailbridge.fetcher", "mailbridge.sender"])) == [
        "mailbridge.fetcher.adapters.store imports mailbridge.sender.mime"
    ]
