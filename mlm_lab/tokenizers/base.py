"""The one interface every tokenizer meets, and the checks they share.

Contract (generation, the data tasks and export rely on it):
- `pad_id`, `bos_id`, `eos_id` are distinct valid ids, known before `fit`.
- `encode` never adds specials and never returns a special id for ordinary text, even text that
  spells a special (the literal "<|endoftext|>" is encoded as its characters).
- `decode` drops pad/bos/eos and user specials: the ids in `special_ids`.
- `needs_fit` is True while a trainable tokenizer has no vocabulary; the caller then passes the
  training split to `fit`. Fixed tokenizers, and ones restored from a fitted state, need no fit.
- `state()` is complete and JSON-serialisable; `from_state(state())` rebuilds the same tokenizer.
- `encode` takes a `str` of valid Unicode only (no lone surrogates) and `decode` ids in [0, vocab_size)
  only: anything else is a TypeError or ValueError that says so (`check_text`, `check_ids`), never a
  silent `<unk>` or a foreign IndexError.
"""

import json
import operator
from pathlib import Path
from typing import Protocol, runtime_checkable

from mlm_lab.errors import ConfigError, require


@runtime_checkable
class Tokenizer(Protocol):
    kind: str  # registry key in mlm_lab.tokenizers.TOKENIZERS, stored in state()["kind"]
    pad_id: int
    bos_id: int
    eos_id: int

    @property
    def vocab_size(self) -> int: ...

    @property
    def special_ids(self) -> frozenset[int]: ...

    @property
    def needs_fit(self) -> bool: ...

    def fit(self, texts: list[str]) -> None: ...

    def encode(self, text: str) -> list[int]: ...

    def decode(self, ids) -> str: ...

    def state(self) -> dict: ...

    @classmethod
    def from_state(cls, state: dict) -> "Tokenizer": ...

    def save(self, directory: str | Path) -> Path: ...


def require_fitted(fitted: bool, kind: str) -> None:
    """Refuse to use a trainable tokenizer that has not been trained yet."""
    if not fitted:
        raise ConfigError(
            f"tokenizer: the {kind} tokenizer has not been fitted, so it has no vocabulary yet. "
            "Fix: call tokenizer.fit(train_texts) with the training split first (a task's setup does this when "
            "tokenizer.needs_fit is true), or load a fitted tokenizer with mlm_lab.tokenizers.load_tokenizer"
        )


def _short(value, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def check_text(text, kind: str) -> str:
    """`text` if it is a str; bytes, None, numbers and lists are a TypeError that says what to pass."""
    if not isinstance(text, str):
        hint = "decode bytes first, e.g. text.decode('utf-8')" if isinstance(text, (bytes, bytearray)) else "pass one string"
        raise TypeError(f"{kind} tokenizer.encode: expected a str, got {type(text).__name__} {_short(text)}. Fix: {hint}")
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as e:  # sentencepiece and HF tokenizers fail on these with foreign errors
            raise ValueError(
                f"{kind} tokenizer.encode: the text holds a lone surrogate {text[e.start]!r} at position {e.start}, "
                "which is not Unicode text (no UTF-8 encoding exists for it). "
                "Fix: send valid Unicode, e.g. text.encode('utf-8', 'replace').decode('utf-8')"
            ) from None
    return text


def check_ids(ids, vocab_size: int, kind: str) -> list[int]:
    """`ids` (a list, tuple, numpy array or tensor of integers) as a list of ints in [0, vocab_size)."""
    if hasattr(ids, "tolist"):
        ids = ids.tolist()
    try:
        if isinstance(ids, (str, bytes, bytearray, dict)):
            raise TypeError
        ids = list(ids)
    except TypeError:
        raise TypeError(
            f"{kind} tokenizer.decode: expected a sequence of token ids, got {type(ids).__name__} {_short(ids)}. "
            "Fix: pass a list of ints, e.g. the result of encode"
        ) from None
    out = []
    for i, value in enumerate(ids):
        try:
            if isinstance(value, bool):
                raise TypeError
            out.append(operator.index(value))
        except TypeError:
            raise TypeError(
                f"{kind} tokenizer.decode: ids[{i}] is {type(value).__name__} {_short(value)}, not an integer id. Fix: pass ints"
            ) from None
    bad = next((i for i, v in enumerate(out) if not 0 <= v < vocab_size), None)
    if bad is not None:
        raise ValueError(
            f"{kind} tokenizer.decode: ids[{bad}] = {out[bad]} is outside the vocabulary [0, {vocab_size}). "
            f"Fix: decode ids from this tokenizer's encode, or from a model with vocab_size {vocab_size}"
        )
    return out


def check_training_texts(texts: list[str]) -> None:
    """Trainers fail late and obscurely on no text; fail early and say where the text comes from."""
    require(
        not isinstance(texts, str),
        "data.train",
        "was given to tokenizer.fit as one string",
        "pass a list of training documents",
    )
    require(
        any(doc.strip() for doc in texts),
        "data.train",
        "has no text, so the tokenizer has nothing to train on",
        "point the data config at a corpus whose training split is not empty",
    )


def check_user_specials(user_specials, reserved: tuple[str, ...]) -> list[str]:
    """User specials as a list: non-empty, distinct, and not one of the built-in special pieces."""
    specials = list(user_specials)
    require(
        all(isinstance(s, str) and s for s in specials),
        "tokenizer.user_specials",
        f"must be non-empty strings, got {specials!r}",
        'list strings such as ["<|endoftext|>"]',
    )
    require(len(set(specials)) == len(specials), "tokenizer.user_specials", f"repeats a token in {specials!r}", "list each token once")
    clash = [s for s in specials if s in reserved]
    require(not clash, "tokenizer.user_specials", f"{clash} are built-in specials already", f"remove them; {list(reserved)} always exist")
    return specials


def write_state(tokenizer, directory: str | Path) -> Path:
    """Write `tokenizer.json` (the state) into `directory`, creating it; returns its path."""
    path = Path(directory) / "tokenizer.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(tokenizer.state()), encoding="utf-8")
    return path
