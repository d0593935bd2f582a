import re

import pytest

from mlm_lab.data.gutenberg import QUIJOTE_CHAPTER, quijote_labels, roman, split_chapters, strip_gutenberg
from mlm_lab.data.sources import read_documents
from mlm_lab.errors import ConfigError
from tests.conftest import data_file


def quijote_text() -> str:
    return read_documents(data_file("cervantes/quijote.txt"))[0][0]


def book(start: str, end: str, note: str = "") -> str:
    return f"Header\nlicence\n\n{start}\n\n\n  \nTitle\n\nChapter 1\ntext\n\n{note}\n{end}\nfooter licence\n"


@pytest.mark.parametrize(
    "start,end",
    [
        ("*** START OF THE PROJECT GUTENBERG EBOOK X ***", "*** END OF THE PROJECT GUTENBERG EBOOK X ***"),
        ("*** START OF THIS PROJECT GUTENBERG EBOOK X ***", "*** END OF THIS PROJECT GUTENBERG EBOOK X ***"),
        ("***START OF THE PROJECT GUTENBERG E-BOOK X***", "***END OF THE PROJECT GUTENBERG E-BOOK X***"),
    ],
)
def test_strip_gutenberg_marker_variants(start, end):
    assert strip_gutenberg(book(start, end)) == "Title\n\nChapter 1\ntext"


def test_strip_gutenberg_drops_the_old_end_note():
    text = book(
        "*** START OF THIS PROJECT GUTENBERG EBOOK X ***", "*** END OF THIS PROJECT GUTENBERG EBOOK X ***", "End of Project Gutenberg's X"
    )
    assert strip_gutenberg(text) == "Title\n\nChapter 1\ntext"


def test_missing_markers_raise_unless_told_there_is_no_header():
    with pytest.raises(ConfigError, match=r"data\.corpus\.gutenberg_header: no '\*\*\* START OF .*gutenberg_header=false"):
        strip_gutenberg("just a book\n")
    with pytest.raises(ConfigError, match=r"no '\*\*\* END OF"):
        strip_gutenberg("*** START OF THE PROJECT GUTENBERG EBOOK X ***\nbook\n")
    assert strip_gutenberg("\n\njust a book\n", has_header=False) == "just a book"


def test_split_chapters_keeps_front_matter_and_reassembles():
    text = "Title\n\nChapter 1\none\nChapter 2\ntwo\n"
    chapters = split_chapters(text, r"^Chapter \d+")
    assert chapters == ["Title\n\n", "Chapter 1\none\n", "Chapter 2\ntwo\n"]
    assert split_chapters("Chapter 1\nx", re.compile(r"^Chapter", re.M)) == ["Chapter 1\nx"]
    assert split_chapters("no headings", r"^Chapter") == ["no headings"]


def test_quijote_excerpt_stripped_and_split_into_its_chapters():
    text = strip_gutenberg(quijote_text())
    assert text.startswith("El ingenioso hidalgo don Quijote de la Mancha\n")
    assert text.endswith("\nFin")
    assert "Project Gutenberg" not in text and "\r" not in text and "\ufeff" not in text
    chapters = split_chapters(text, QUIJOTE_CHAPTER)
    assert "".join(chapters) == text
    headings = [c.split(".", 1)[0] for c in chapters[1:]]
    # the excerpt keeps chapters I-II of part 1 and I, LXXII-LXXIV of part 2 (tests/data/README.md)
    assert headings == ["Capítulo primero", "Capítulo II", "Capítulo Primero", "Capítulo LXXII", "Capítulo LXXIII", "Capítulo LXXIV"]
    assert chapters[0].startswith("El ingenioso hidalgo") and "Prólogo" in chapters[0]


def test_quijote_chapters_are_labelled_part_dot_chapter():
    chapters = split_chapters(strip_gutenberg(quijote_text()), QUIJOTE_CHAPTER)
    assert quijote_labels(chapters) == ["front", "I.1", "I.2", "II.1", "II.72", "II.73", "II.74"]
    assert [roman(n) for n in ("XXXIII", "XXXIX", "XLI", "LXXIV", "IV")] == [33, 39, 41, 74, 4]
