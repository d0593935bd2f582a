"""The one interface every tokenizer meets, and the checks they share.

Contract (generation, the data tasks and export rely on it):
- `pad_id`, `bos_id`, `eos_id` are distinct valid ids, known before `fit`.
- `encode` never adds specials and never returns a special id for ordinary text, even text that
  spells a special (the literal "<|endoftext|>" is encoded as its characters).
- `decode` drops pad/bos/eos and user specials: the ids in `special_ids`.
- `needs_fit` is True while a trainable tokenizer has no vocabulary; the caller then passes the
  training split to `fit`. Fixed tokenizers, and ones restored from a fitted state, need no fit.
- `state()` is complete and JSON-serialisable; `from_state(state())` rebuilds the same tokenizer.
"""

import json
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
