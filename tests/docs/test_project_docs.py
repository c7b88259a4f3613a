"""#16: the project keeps its own requirement list under docs/ (every id of the manual's list, in
the project's words) and its documents link only inside the repository, to files that exist."""

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SEED = REPO.parent / "shared" / "seed" / "REQUIREMENTS.md"  # beside the clone, outside the repository
ID = re.compile(r"^\| ([SGATO]\d{1,2}) \|", re.MULTILINE)
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
DOCUMENTS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def _ids(text: str) -> list[str]:
    return ID.findall(text)


def test_docs_list_every_requirement_id_once() -> None:
    ours = _ids((REPO / "docs" / "requirements.md").read_text())
    assert len(ours) == len(set(ours)), "an id listed twice"
    expected = {f"S{n}" for n in range(1, 14)} | {f"G{n}" for n in range(1, 7)}
    expected |= {f"A{n}" for n in range(1, 13)} | {"T1"} | {f"O{n}" for n in range(1, 6)}
    assert set(ours) == expected


def test_docs_list_exactly_the_ids_of_the_manual_s_list() -> None:
    if not SEED.is_file():
        pytest.skip(f"{SEED} is not beside this clone")
    assert set(_ids((REPO / "docs" / "requirements.md").read_text())) == set(_ids(SEED.read_text()))


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: str(path.relative_to(REPO)))
def test_links_stay_inside_the_repository_and_resolve(document: Path) -> None:
    text = document.read_text()
    assert "shared/seed" not in text
    assert "shared/design" not in text
    for target in LINK.findall(text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http://…, mailto:
            continue
        resolved = (document.parent / target).resolve()
        assert resolved.is_relative_to(REPO), f"{target} points outside the repository"
        assert resolved.exists(), f"{target} does not exist"


def test_the_readme_links_the_requirements_and_the_architecture() -> None:
    links = LINK.findall((REPO / "README.md").read_text())
    assert "docs/requirements.md" in links
    assert "docs/architecture.md" in links
