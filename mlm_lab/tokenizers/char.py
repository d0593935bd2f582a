"""Character tokenizer over a fixed alphabet, with `<pad> <bos> <eos>` specials at ids 0, 1, 2."""

import json
from pathlib import Path

from mlm_lab.errors import require

SPECIALS = ("<pad>", "<bos>", "<eos>")


class CharTokenizer:
    """One id per character of `alphabet`; specials first, so `<pad>` is 0."""

    kind = "char"

    def __init__(self, alphabet: str = "0123456789+-*/="):
        require(len(alphabet) > 0, "tokenizer.alphabet", "is empty", "list the characters the data uses")
        require(
            len(set(alphabet)) == len(alphabet),
            "tokenizer.alphabet",
            f"has repeated characters in {alphabet!r}",
            "list each character once",
        )
        self.alphabet = alphabet
        self.itos = list(SPECIALS) + list(alphabet)
        self.stoi = {s: i for i, s in enumerate(self.itos)}
        self.pad_id, self.bos_id, self.eos_id = 0, 1, 2

    @property
    def vocab_size(self) -> int:
        return len(self.itos)

    def encode(self, text: str) -> list[int]:
        try:
            return [self.stoi[c] for c in text]
        except KeyError as e:
            raise ValueError(f"character {e.args[0]!r} in {text!r} is not in the tokenizer alphabet {self.alphabet!r}") from None

    def decode(self, ids) -> str:
        """Text of the non-special ids; specials are dropped."""
        return "".join(self.itos[i] for i in ids if i >= len(SPECIALS))

    def state(self) -> dict:
        """A JSON-serialisable description that `from_state` rebuilds."""
        return {"kind": self.kind, "alphabet": self.alphabet}

    @classmethod
    def from_state(cls, state: dict) -> "CharTokenizer":
        return cls(alphabet=state["alphabet"])

    def save(self, directory: str | Path) -> Path:
        path = Path(directory) / "tokenizer.json"
        path.write_text(json.dumps(self.state()))
        return path
