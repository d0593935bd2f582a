"""Character tokenizer: over a fixed alphabet, or over the characters of the training text.

Fixed (`alphabet="0123..."`): ids 0 `<pad>`, 1 `<bos>`, 2 `<eos>`, then one per alphabet character.
It needs no fit, and a character outside the alphabet is a ValueError: the alphabet describes
synthetic data exactly, so a stray character is a bug worth stopping for.

Corpus-built (`alphabet=None`): `fit` takes the sorted set of the training text's characters; ids
0 `<pad>`, 1 `<bos>`, 2 `<eos>`, 3 `<unk>`, then the characters. Real text always holds characters
the training split lacked, so those encode to `<unk>`, which decodes to U+FFFD (the Unicode
replacement character); the round trip holds for text made of training characters.
"""

from pathlib import Path

from mlm_lab.errors import require
from mlm_lab.tokenizers.base import check_ids, check_text, check_training_texts, require_fitted, write_state

SPECIALS = ("<pad>", "<bos>", "<eos>")
UNK = "<unk>"
UNK_TEXT = "\ufffd"


class CharTokenizer:
    """One id per character; specials first, so `<pad>` is 0."""

    kind = "char"

    def __init__(self, alphabet: str | None = "0123456789+-*/="):
        """
        Args:
            alphabet: the characters, each once; None builds them from the training text in `fit`.
        """
        self.alphabet = alphabet
        self.pad_id, self.bos_id, self.eos_id = 0, 1, 2
        self.unk_id: int | None = None
        self.chars: str | None = None
        if alphabet is None:
            self.unk_id = len(SPECIALS)
            return
        require(
            len(alphabet) > 0, "tokenizer.alphabet", "is empty", "list the characters the data uses, or null to learn them from the corpus"
        )
        require(
            len(set(alphabet)) == len(alphabet),
            "tokenizer.alphabet",
            f"has repeated characters in {alphabet!r}",
            "list each character once",
        )
        self._set_chars(alphabet)

    def _set_chars(self, chars: str) -> None:
        specials = SPECIALS if self.unk_id is None else (*SPECIALS, UNK)
        self.chars = chars
        self.itos = list(specials) + list(chars)
        self.stoi = {c: i for i, c in enumerate(chars, start=len(specials))}

    @property
    def special_ids(self) -> frozenset[int]:
        """pad, bos, eos; `<unk>` (corpus-built) stands for text, so it is not among them."""
        return frozenset({self.pad_id, self.bos_id, self.eos_id})

    @property
    def needs_fit(self) -> bool:
        return self.chars is None

    @property
    def vocab_size(self) -> int:
        require_fitted(self.chars is not None, self.kind)
        return len(self.itos)

    def fit(self, texts: list[str]) -> None:
        """Corpus-built: take the training text's characters. Fixed alphabet: nothing to learn."""
        if self.alphabet is not None:
            return
        check_training_texts(texts)
        seen: set[str] = set()
        for doc in texts:
            seen.update(doc)
        self._set_chars("".join(sorted(seen)))

    def encode(self, text: str) -> list[int]:
        require_fitted(self.chars is not None, self.kind)
        check_text(text, self.kind)
        if self.unk_id is not None:
            return [self.stoi.get(c, self.unk_id) for c in text]
        try:
            return [self.stoi[c] for c in text]
        except KeyError as e:
            at = text.index(e.args[0])
            raise ValueError(
                f"character {e.args[0]!r} at position {at} of the text {_excerpt(text, at)} is not in the tokenizer alphabet "
                f"{self.alphabet!r}. Fix: use only the alphabet's characters (the model was trained on them)"
            ) from None

    def decode(self, ids) -> str:
        """Text of the non-special ids; pad, bos and eos are dropped, `<unk>` becomes U+FFFD."""
        require_fitted(self.chars is not None, self.kind)
        ids = check_ids(ids, len(self.itos), self.kind)
        return "".join(UNK_TEXT if i == self.unk_id else self.itos[i] for i in ids if i >= len(SPECIALS))

    def state(self) -> dict:
        """A JSON-serialisable description that `from_state` rebuilds; fixed alphabets keep the original format."""
        if self.alphabet is not None:
            return {"kind": self.kind, "alphabet": self.alphabet}
        return {"kind": self.kind, "alphabet": None, "chars": self.chars}

    @classmethod
    def from_state(cls, state: dict) -> "CharTokenizer":
        tok = cls(alphabet=state["alphabet"])
        if state["alphabet"] is None and state.get("chars") is not None:
            tok._set_chars(state["chars"])
        return tok

    def save(self, directory: str | Path) -> Path:
        require_fitted(self.chars is not None, self.kind)
        return write_state(self, directory)


def _excerpt(text: str, at: int, width: int = 20) -> str:
    """The text around position `at`, so that an error about a huge text stays short."""
    start = max(at - width, 0)
    return ("..." if start else "") + repr(text[start : at + width]) + ("..." if at + width < len(text) else "")
