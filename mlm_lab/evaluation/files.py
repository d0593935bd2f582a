"""Scoring a model on text from outside its run: a file, a folder of files or a URL (what `mlm-eval data.path=` reads)."""

from mlm_lab.data.corpus_loaders import EOT, normalise_paragraphs
from mlm_lab.data.download import resolve
from mlm_lab.data.sources import read_documents
from mlm_lab.errors import ConfigError


def training_reading(run_config: dict) -> dict:
    """How the model's training corpus read its text files, as `score_file` options ({} when it is not known).

    TinyStories: stories between `<|endoftext|>` lines, each paragraph break written as its `paragraph_separator`;
    a TextCorpus: its `separator`. Scored any other way, a file of the same kind is not the text the model learnt
    (the literal `<|endoftext|>` lines would be scored as words).
    """
    corpus = (run_config.get("data") or {}).get("corpus") or {}
    target = str(corpus.get("_target_", ""))
    if target.endswith(".TinyStories"):
        return {"separator": EOT, "paragraph_separator": corpus.get("paragraph_separator", "\n\n")}
    if target.endswith(".TextCorpus") and corpus.get("separator"):
        return {"separator": corpus["separator"], "text_column": corpus.get("text_column", "text")}
    return {}


def score_file(
    predictor,
    path: str,
    *,
    separator: str | None = None,
    paragraph_separator: str | None = None,
    text_column: str = "text",
    sha256: str | None = None,
    cache_dir: str | None = None,
    stride: int | None = None,
) -> dict[str, float]:
    """Loss, perplexity and bits per byte of the documents in `path`, scored by `predictor`.

    `separator` splits a .txt file into documents; `paragraph_separator` rewrites each document's paragraph breaks
    (and strips it) as TinyStories does; `text_column` names the text in .jsonl/.json/.csv/.parquet; a URL is
    downloaded into `cache_dir` and checked against `sha256` when given.
    """
    local = resolve(path, cache_dir, sha256=sha256, key="data.path")
    documents, _ = read_documents(local, text_column=text_column, separator=separator, key="data.path")
    if paragraph_separator is not None:
        documents = normalise_paragraphs(documents, paragraph_separator)
    try:
        return predictor.score(documents, stride=stride)
    except ConfigError:
        raise
    except ValueError:
        unencodable = first_unencodable(predictor.tokenizer, documents)
        if unencodable is None:
            raise  # not the text: a bug, with its traceback
        i, error = unencodable
        raise ConfigError(
            f"data.path={path}: the model's tokenizer cannot encode document {i + 1} of {len(documents)}: {error}, "
            "or score this file with a model whose tokenizer covers its text"
        ) from None


def first_unencodable(tokenizer, documents: list[str]) -> tuple[int, ValueError] | None:
    """(index, the tokenizer's error) of the first document the tokenizer refuses to encode, else None."""
    for i, doc in enumerate(documents):
        try:
            tokenizer.encode(doc)
        except ValueError as e:
            return i, e
    return None
