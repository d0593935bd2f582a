"""The text corpora a config can name under `data.corpus`: each one's `load(cache_dir)` reads, cleans and splits its text.

Validation text is always the end of the source (last documents, last chapters), never a random sample: neighbouring
lines of a book or story share names and phrases, so a random split would leak training text into validation.
"""

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from mlm_lab.data.corpus import Corpus
from mlm_lab.data.download import is_url, resolve
from mlm_lab.data.gutenberg import QUIJOTE_CHAPTER, quijote_labels, split_chapters, strip_gutenberg
from mlm_lab.data.sources import read_documents, require_exists, sibling_key
from mlm_lab.errors import require

EOT = "<|endoftext|>"  # the TinyStories separator, on a line of its own between stories

_HF_TINYSTORIES = "https://huggingface.co/datasets/roneneldan/TinyStories/resolve/main/"
# The hub's parquet version (TinyStories V1, column `text`, paragraphs already separated by a blank line). To train on it:
#   data.corpus.path='[<the four TINYSTORIES_PARQUET_TRAIN URLs>]' data.corpus.val_path=<TINYSTORIES_PARQUET_VALID>
TINYSTORIES_PARQUET_TRAIN = [
    _HF_TINYSTORIES + "data/train-00000-of-00004-2d5a1467fff1081b.parquet",
    _HF_TINYSTORIES + "data/train-00001-of-00004-5852b56a2bd28fd9.parquet",
    _HF_TINYSTORIES + "data/train-00002-of-00004-a26307300439e943.parquet",
    _HF_TINYSTORIES + "data/train-00003-of-00004-d243063613e5a057.parquet",
]
TINYSTORIES_PARQUET_VALID = _HF_TINYSTORIES + "data/validation-00000-of-00001-869c898b519ad725.parquet"

PathSpec = str | Sequence[str]


class TextCorpus:
    """Documents from a file, a folder or a URL; validation from `val_path`, else the last `val_fraction` of the documents."""

    key = "data.corpus"  # the config key this corpus sits under, for error messages; a Mixture sets it for its parts

    def __init__(
        self,
        path: PathSpec,
        val_path: PathSpec | None = None,
        val_fraction: float = 0.05,
        text_column: str = "text",
        separator: str | None = None,
        sha256: str | None = None,
        name: str = "text",
    ):
        self.path, self.val_path, self.val_fraction = path, val_path, val_fraction
        self.text_column, self.separator, self.sha256, self.name = text_column, separator, sha256, name

    def load(self, cache_dir: str | None = None) -> Corpus:
        key = self.key
        if self.val_path is None:
            _require_fraction(self.val_fraction, f"{key}.val_fraction")
        _require_local_paths(self.path, f"{key}.path")
        _require_local_paths(self.val_path, f"{key}.val_path")
        options = {"text_column": self.text_column, "separator": self.separator}
        parts, files = read_sources(self.path, cache_dir, f"{key}.path", sha256=self.sha256, **options)
        train = [doc for part in parts for doc in part]
        if self.val_path is None:
            train, val = split_tail(train, self.val_fraction, f"{key}.val_fraction")
        else:
            val_parts, val_files = read_sources(self.val_path, cache_dir, f"{key}.val_path", **options)
            val, files = [doc for part in val_parts for doc in part], {**files, **val_files}
        return Corpus(self.name, train, val, files)


class Cervantes:
    """Don Quijote from Project Gutenberg (#2000): documents are chapters; validation is the last chapters.

    gutenberg_header: False for a copy of the book whose Gutenberg header and licence were already removed.
    heldout_chapters: chapters (`part.chapter`, e.g. I.33) kept out of training and validation and scored beside
    validation: the embedded tales (El curioso impertinente, I.33-35; the captive's tale, I.39-41) are other stories
    in other voices, a check of prose the model has not seen that its own last chapters cannot give.
    """

    key = "data.corpus"

    def __init__(
        self,
        path: str = "https://www.gutenberg.org/cache/epub/2000/pg2000.txt",
        sha256: str | None = None,
        val_fraction: float = 0.05,
        name: str = "cervantes",
        gutenberg_header: bool = True,
        heldout_chapters: Sequence[str] = (),
    ):
        self.path, self.sha256, self.val_fraction, self.name, self.gutenberg_header = path, sha256, val_fraction, name, gutenberg_header
        self.heldout_chapters = list(heldout_chapters)

    def load(self, cache_dir: str | None = None) -> Corpus:
        key = self.key
        _require_fraction(self.val_fraction, f"{key}.val_fraction")
        _require_local_paths(self.path, f"{key}.path")
        parts, files = read_sources(self.path, cache_dir, f"{key}.path", sha256=self.sha256)
        books = [doc for part in parts for doc in part]
        require(len(books) == 1, f"{key}.path", f"names {len(books)} texts; the corpus is one book", "point it at one .txt file")
        text = strip_gutenberg(books[0], has_header=self.gutenberg_header, key=f"{key}.gutenberg_header")
        chapters = split_chapters(text, QUIJOTE_CHAPTER)
        problem = "holds no 'Capítulo ...' chapter headings"
        require(len(chapters) > 1, f"{key}.path", problem, "point it at Don Quijote (Project Gutenberg eBook #2000)")
        labels = quijote_labels(chapters)
        unknown = [c for c in self.heldout_chapters if c not in labels]
        chapter_range = f"{labels[1]} ... {labels[-1]}" if len(labels) > 1 else "none"
        require(
            not unknown,
            f"{key}.heldout_chapters",
            f"names chapters the book lacks: {unknown} (it has {chapter_range})",
            "use part.chapter labels such as I.33, or []",
        )
        heldout = [c for c, label in zip(chapters, labels) if label in self.heldout_chapters]
        chapters = [c for c, label in zip(chapters, labels) if label not in self.heldout_chapters]
        n_val = tail_count([len(c) for c in chapters], self.val_fraction)
        return Corpus(self.name, chapters[:-n_val], chapters[-n_val:], files, heldout)


class TinyStories:
    """TinyStories (Eldan & Li, 2023): `<|endoftext|>`-separated .txt files, or the hub's parquet files (column `text`).

    path and val_path: a file, folder or URL, or a list of them. paragraph_separator: what every paragraph break inside
    a story becomes; null keeps each file's own layout. The defaults are the hub's V2 (GPT-4) .txt files; the parquet
    version is TINYSTORIES_PARQUET_TRAIN / TINYSTORIES_PARQUET_VALID. heldout_fraction: the last stories of the
    training files (the V2 GPT-4 ones, listed last), kept out of training and scored beside validation.
    """

    key = "data.corpus"

    def __init__(
        self,
        path: PathSpec = _HF_TINYSTORIES + "TinyStoriesV2-GPT4-train.txt",
        val_path: PathSpec = _HF_TINYSTORIES + "TinyStoriesV2-GPT4-valid.txt",
        paragraph_separator: str | None = "\n\n",
        name: str = "tinystories",
        text_column: str = "text",
        heldout_fraction: float = 0.0,
    ):
        self.path, self.val_path, self.name, self.text_column = path, val_path, name, text_column
        self.paragraph_separator = paragraph_separator
        self.heldout_fraction = heldout_fraction

    def load(self, cache_dir: str | None = None) -> Corpus:
        key = self.key
        require(self.val_path is not None, f"{key}.val_path", "is not set", f"set {key}.val_path to the validation stories")
        _require_local_paths(self.path, f"{key}.path")
        _require_local_paths(self.val_path, f"{key}.val_path")
        options = {"text_column": self.text_column, "separator": EOT}
        parts, files = read_sources(self.path, cache_dir, f"{key}.path", **options)
        val_parts, val_files = read_sources(self.val_path, cache_dir, f"{key}.val_path", **options)
        train = [story for part in parts for story in normalise_paragraphs(part, self.paragraph_separator)]
        val = [story for part in val_parts for story in normalise_paragraphs(part, self.paragraph_separator)]
        heldout = []
        if self.heldout_fraction:
            _require_fraction(self.heldout_fraction, f"{key}.heldout_fraction")
            train, heldout = split_tail(train, self.heldout_fraction, f"{key}.heldout_fraction")
        return Corpus(self.name, train, val, {**files, **val_files}, heldout)


class Mixture:
    """Several corpora, each drawn by its share of the training batches (the task samples; this only loads and checks).

    corpora: name -> corpus. shares: name -> positive weight; kept normalised to sum 1 in `self.shares`.
    """

    key = "data.corpus"

    def __init__(self, corpora: Mapping[str, object], shares: Mapping[str, float]):
        self.corpora = dict(corpora.items())
        self.shares = _normalised_shares(self.corpora, dict(shares.items()), self.key)

    def load(self, cache_dir: str | None = None) -> dict[str, Corpus]:
        loaded = {}
        for name, corpus in self.corpora.items():
            corpus.key = f"{self.key}.corpora.{name}"  # errors then name the part at fault
            loaded[name] = corpus.load(cache_dir)
        return loaded


def read_sources(
    paths: PathSpec, cache_dir: str | None, key: str, sha256: str | None = None, **options
) -> tuple[list[list[str]], dict[str, str]]:
    """The documents of each path or URL in `paths` (one list per entry) and {file or URL: sha256} of everything read."""
    entries = _entries(paths)
    require(len(entries) > 0, key, "is an empty list", f"set {key} to a file, folder or URL")
    require(sha256 is None or len(entries) == 1, sibling_key(key, "sha256"), "one hash for several files", "unset it, or name one file")
    local = [resolve(entry, cache_dir, sha256=sha256, key=key) for entry in entries]  # download everything before reading
    parts, files = [], {}
    for entry, path in zip(entries, local):
        docs, hashes = read_documents(path, key=key, **options)
        parts.append(docs)
        files.update({str(entry): h for h in hashes.values()} if is_url(entry) else hashes)  # downloads are known by URL
    return parts, files


def split_tail(docs: list[str], fraction: float, key: str) -> tuple[list[str], list[str]]:
    """(train, val): val is the last `fraction` of the documents, or of the lines of a single document."""
    if len(docs) == 1:
        return _split_lines(docs[0], fraction, key)
    n_val = max(1, round(len(docs) * fraction))
    require(n_val < len(docs), key, f"{fraction} of {len(docs)} documents leaves none to train on", f"lower {key} or set val_path")
    return docs[:-n_val], docs[-n_val:]


def _split_lines(text: str, fraction: float, key: str) -> tuple[list[str], list[str]]:
    cut = int(len(text) * (1 - fraction))
    candidates = [i for i in (text.rfind("\n", 0, cut), text.find("\n", cut)) if i >= 0 and text[: i + 1].strip() and text[i + 1 :].strip()]
    problem = "the corpus is one document without a line break that leaves text on both sides"
    require(bool(candidates), key, problem, "set val_path to a separate validation file")
    at = min(candidates, key=lambda i: abs(i - cut)) + 1
    return [text[:at]], [text[at:]]


def tail_count(lengths: list[int], fraction: float) -> int:
    """How many of the last items bring their total length closest to `fraction` of the whole (at least one, not all)."""
    target, total, best, best_gap = fraction * sum(lengths), 0, 1, math.inf
    for k in range(1, len(lengths)):
        total += lengths[-k]
        if abs(total - target) < best_gap:
            best, best_gap = k, abs(total - target)
        if total > target:
            break
    return best


def paragraph_break(stories: list[str]) -> str:
    """The paragraph break a file uses: "\\n\\n" when most stories with several lines have a blank line (the hub's
    parquet files, valid.txt), else "\\n" (the original .txt files: one paragraph per line)."""
    multi = [s for s in stories if "\n" in s.strip()]
    blank = sum("\n\n" in s for s in multi)
    return "\n\n" if multi and 2 * blank > len(multi) else "\n"


def normalise_paragraphs(stories: list[str], separator: str | None) -> list[str]:
    """Stories, stripped, with each paragraph break written as `separator` (None: as found)."""
    if separator is not None and paragraph_break(stories) == "\n":
        # One paragraph per line; the odd blank or space-only line between paragraphs is not a paragraph.
        stories = [separator.join(line for line in s.split("\n") if line.strip()) for s in stories]
    elif separator is not None and separator != "\n\n":
        stories = [s.replace("\n\n", separator) for s in stories]
    return [s.strip() for s in stories if s.strip()]


def _require_fraction(value: float, key: str) -> None:
    require(isinstance(value, (int, float)) and 0 < value < 1, key, f"must be between 0 and 1, got {value!r}", f"set {key}=0.05")


def _require_local_paths(paths: PathSpec | None, key: str) -> None:
    """Fail on a missing local file before anything is downloaded or read."""
    for entry in [] if paths is None else _entries(paths):
        if not is_url(entry):
            require_exists(Path(str(entry)).expanduser(), key)


def _entries(paths: PathSpec) -> list:
    """One path, URL or a list of them, as a list."""
    return [paths] if isinstance(paths, (str, Path)) else list(paths)


def _normalised_shares(corpora: dict, shares: dict, key: str) -> dict[str, float]:
    require(len(corpora) > 0, f"{key}.corpora", "is empty", f"name at least one corpus under {key}.corpora")
    missing, extra = sorted(set(corpora) - set(shares)), sorted(set(shares) - set(corpora))
    require(not missing, f"{key}.shares", f"has no share for {missing}", f"add {key}.shares.{next(iter(missing), '')}=1.0")
    problem = f"names {extra}, which are not in {key}.corpora {sorted(corpora)}"
    require(not extra, f"{key}.shares", problem, "remove them, or add those corpora")
    for name, share in shares.items():
        ok = isinstance(share, (int, float)) and not isinstance(share, bool) and math.isfinite(share) and share > 0
        require(ok, f"{key}.shares.{name}", f"must be a positive number, got {share!r}", f"set {key}.shares.{name}=1.0")
    for name, corpus in corpora.items():
        ok = hasattr(corpus, "load") and not isinstance(corpus, Mixture)
        require(ok, f"{key}.corpora.{name}", "is not a corpus (a Mixture cannot hold another)", "give it a corpus _target_")
    total = sum(shares.values())
    return {name: shares[name] / total for name in corpora}
