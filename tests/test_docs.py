"""The documents point at tests and modules that exist: a renamed test or module cannot leave a stale reference."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ["README.md", "docs/architecture.md", "docs/reliability.md"]
PLACEHOLDER = "NAME"  # docs/architecture.md's "where to add" table names files that a contributor would create


def referenced_tests(text: str) -> list[tuple[str, str | None]]:
    """(test file, test name or None) for every `tests/test_x.py`, `tests/test_x.py::name` and the `::name`s that follow it."""
    found = []
    for cell in re.finditer(r"tests/(test_\w+\.py)((?:(?:::|`, `::)\w+)*)", text):
        names = re.findall(r"::(\w+)", cell.group(2))
        found += [(cell.group(1), name) for name in names] or [(cell.group(1), None)]
    return found


@pytest.mark.parametrize("doc", DOCS)
def test_every_test_a_document_names_exists(doc):
    missing = []
    for file, name in referenced_tests((ROOT / doc).read_text()):
        path = ROOT / "tests" / file
        if PLACEHOLDER in file:
            continue
        if not path.is_file():
            missing.append(file)
        elif name and not re.search(rf"^(async )?def {name}\b", path.read_text(), re.M):
            missing.append(f"{file}::{name}")
    assert missing == []


@pytest.mark.parametrize("doc", DOCS)
def test_every_module_path_a_document_names_exists(doc):
    paths = set(re.findall(r"`(mlm_lab/[\w/]+\.py)`", (ROOT / doc).read_text()))
    missing = sorted(p for p in paths if PLACEHOLDER not in p and not (ROOT / p).is_file())
    assert missing == []


def test_the_reference_finder_reads_the_tables_forms():
    text = "`tests/test_a.py::x`, `::y` and `tests/test_b.py` (see `tests/test_c.py::z`)"
    assert referenced_tests(text) == [("test_a.py", "x"), ("test_a.py", "y"), ("test_b.py", None), ("test_c.py", "z")]
