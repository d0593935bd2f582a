"""Project Gutenberg texts: the book without the Gutenberg header and licence, cut into chapters."""

import re

from mlm_lab.errors import require

# "*** START OF THE PROJECT GUTENBERG EBOOK DON QUIJOTE ***"; releases before ~2020 say "THIS" and sometimes "E-BOOK".
START = re.compile(r"^\*{3}\s*START OF (?:THE|THIS) PROJECT GUTENBERG E-?BOOK\b.*$", re.IGNORECASE | re.MULTILINE)
END = re.compile(r"^\*{3}\s*END OF (?:THE|THIS) PROJECT GUTENBERG E-?BOOK\b.*$", re.IGNORECASE | re.MULTILINE)
# Older releases put "End of the Project Gutenberg EBook of X" (or "End of Project Gutenberg's X") just above END.
_END_NOTE = re.compile(r"^[ \t]*End of (?:the )?Project Gutenberg\b[^\n]*\s*\Z", re.IGNORECASE | re.MULTILINE)
_LEADING_BLANK_LINES = re.compile(r"\A(?:[ \t]*\n)+")

# Don Quijote (eBook #2000): "Capítulo primero. Que trata...", "Capítulo II. ...", "Capítulo Primero" (part 2), "Capítulo LXXIV".
QUIJOTE_CHAPTER = r"^Cap[ií]tulo (?:[Pp]rimero|[IVXLCDM]+)\b"


def strip_gutenberg(text: str, *, has_header: bool = True, key: str = "data.corpus.gutenberg_header") -> str:
    """The book between the START and END markers, without the blank lines around it.

    has_header: False for a text that never had the Gutenberg header and footer; it comes back with only the blank
    lines around it removed. key: the config key of that switch, named in the error when the markers are missing.
    """
    body = text
    if has_header:
        start = START.search(text)
        end = END.search(text, start.end()) if start else None
        missing = "START" if start is None else "END"
        problem = f"no '*** {missing} OF THE PROJECT GUTENBERG EBOOK ... ***' line in the text"
        require(end is not None, key, problem, f"use a Project Gutenberg plain-text file, or set {key}=false if it has no header")
        body = text[start.end() : end.start()]
        note = _END_NOTE.search(body)
        body = body[: note.start()] if note else body
    return _LEADING_BLANK_LINES.sub("", body).rstrip()


def split_chapters(text: str, pattern: str | re.Pattern) -> list[str]:
    """`text` cut before every line that `pattern` matches (multi-line mode); "".join(result) == text.

    Text before the first heading (title, contents, prologues) is the first chunk; no heading gives [text].
    """
    heading = re.compile(pattern, re.MULTILINE) if isinstance(pattern, str) else pattern
    cuts = [m.start() for m in heading.finditer(text) if m.start() > 0]
    bounds = [0, *cuts, len(text)]
    return [text[a:b] for a, b in zip(bounds, bounds[1:]) if b > a]


_ROMAN = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100, "D": 500, "M": 1000}


def roman(numeral: str) -> int:
    values = [_ROMAN[c] for c in numeral.upper()]
    return sum(-v if i + 1 < len(values) and v < values[i + 1] else v for i, v in enumerate(values))


def quijote_labels(chapters: list[str]) -> list[str]:
    """`part.chapter` labels of `split_chapters(book, QUIJOTE_CHAPTER)`: "front", "I.1" ... "I.52", "II.1" ... "II.74".

    A "Capítulo primero" starts a part; the part numerals are Roman (I, II) as editions cite them.
    """
    labels, part = [], 0
    heading = re.compile(r"Cap[ií]tulo ([Pp]rimero|[IVXLCDM]+)\b")
    for chapter in chapters:
        m = heading.match(chapter)
        if m is None:
            labels.append("front")
            continue
        number = 1 if m.group(1).lower() == "primero" else roman(m.group(1))
        part += number == 1
        labels.append(f"{'I' * part if part < 4 else part}.{number}")
    return labels
