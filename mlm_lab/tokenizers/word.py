"""Word tokenizer: whitespace-separated words, with the vocabulary, padding and truncation of the minilm seed.

Ids: 0 `<PAD>`, 1 `<UNK>`, 2 `<BOS>`, 3 `<EOS>`, then the training words by falling frequency (ties in
code-point order), at most `vocab_size` ids in all. A word of the text that spells a special (say
"<EOS>") is an ordinary word: it has its own id if training saw it, else `<UNK>`.

Whitespace is not kept: `decode` joins words with one space, so decode(encode(s)) == " ".join(s.split())
when every word is in the vocabulary, and unknown words come back as `<UNK>`.

`encode` returns the bare ids, like every tokenizer. `encode_batch` makes the rows minilm users expect:
`<BOS>` words `<EOS>`, refused (or cut, with truncation) beyond max_length, padded with `<PAD>`.
"""

from collections import Counter
from pathlib import Path

from mlm_lab.errors import require
from mlm_lab.tokenizers.base import check_ids, check_text, check_training_texts, require_fitted, write_state

SPECIALS = ("<PAD>", "<UNK>", "<BOS>", "<EOS>")


class WordTokenizer:
    """Whitespace words; `fit` keeps the `vocab_size - 4` most frequent words seen at least `min_frequency` times."""

    kind = "word"

    def __init__(
        self,
        vocab_size: int = 10000,
        min_frequency: int = 1,
        max_length: int | None = None,
        padding: bool = False,
        truncation: bool = False,
    ):
        """
        Args:
            vocab_size: most ids in all, the 4 specials included; a small corpus may give fewer.
            max_length: longest row `encode_batch` returns, specials included; None for no limit.
            padding: `encode_batch` pads rows with `<PAD>` to max_length (or to the batch's longest row).
            truncation: `encode_batch` cuts rows longer than max_length; when false they are an error.
        """
        require(
            vocab_size > len(SPECIALS),
            "tokenizer.vocab_size",
            f"is {vocab_size}, but the 4 specials alone take 4 ids",
            "set tokenizer.vocab_size above 4 (e.g. 10000)",
        )
        require(min_frequency >= 1, "tokenizer.min_frequency", f"is {min_frequency}", "use 1 or more")
        require(max_length is None or max_length > 0, "tokenizer.max_length", f"is {max_length}", "use a positive length or null")
        self.vocab_size_setting = vocab_size
        self.min_frequency = min_frequency
        self.max_length = max_length
        self.padding = padding
        self.truncation = truncation
        self.pad_id, self.unk_id, self.bos_id, self.eos_id = 0, 1, 2, 3
        self.words: list[str] | None = None

    def _set_words(self, words: list[str]) -> None:
        self.words = list(words)
        self.stoi = {w: i for i, w in enumerate(self.words, start=len(SPECIALS))}

    @property
    def special_ids(self) -> frozenset[int]:
        """pad, bos, eos; `<UNK>` stands for a word, so it is not among them."""
        return frozenset({self.pad_id, self.bos_id, self.eos_id})

    @property
    def needs_fit(self) -> bool:
        return self.words is None

    @property
    def vocab_size(self) -> int:
        require_fitted(self.words is not None, self.kind)
        return len(SPECIALS) + len(self.words)

    def fit(self, texts: list[str]) -> None:
        check_training_texts(texts)
        counts: Counter[str] = Counter()
        for doc in texts:
            counts.update(doc.split())
        ranked = sorted((w for w, n in counts.items() if n >= self.min_frequency), key=lambda w: (-counts[w], w))
        require(
            len(ranked) > 0,
            "tokenizer.min_frequency",
            f"is {self.min_frequency}, more than any training word's count (at most {max(counts.values())})",
            "lower tokenizer.min_frequency or train on more text",
        )
        self._set_words(ranked[: self.vocab_size_setting - len(SPECIALS)])

    def tokenize(self, text: str) -> list[str]:
        """The whitespace-separated words of `text`."""
        return text.split()

    def encode(self, text: str) -> list[int]:
        require_fitted(self.words is not None, self.kind)
        return [self.stoi.get(w, self.unk_id) for w in check_text(text, self.kind).split()]

    def decode(self, ids) -> str:
        """Words joined by single spaces; pad, bos and eos dropped, unknown words shown as `<UNK>`."""
        require_fitted(self.words is not None, self.kind)
        skip = self.special_ids
        ids = check_ids(ids, self.vocab_size, self.kind)
        return " ".join(SPECIALS[i] if i == self.unk_id else self.words[i - len(SPECIALS)] for i in ids if i not in skip)

    def encode_batch(
        self,
        texts: list[str],
        add_special_tokens: bool = True,
        max_length: int | None = None,
        padding: bool | None = None,
        truncation: bool | None = None,
    ) -> list[list[int]]:
        """Model-ready rows: `<BOS>` ids `<EOS>`, held to max_length, padded; None arguments take the tokenizer's settings."""
        max_length = self.max_length if max_length is None else max_length
        padding = self.padding if padding is None else padding
        truncation = self.truncation if truncation is None else truncation
        n_special = 2 if add_special_tokens else 0
        require(
            max_length is None or max_length > n_special,
            "tokenizer.max_length",
            f"is {max_length}, leaving no room for words beside <BOS> and <EOS>",
            f"use a max_length above {n_special}",
        )
        rows = []
        for text in texts:
            ids = self.encode(text)
            if max_length is not None and len(ids) + n_special > max_length:
                require(
                    truncation,
                    "tokenizer.truncation",
                    f"is false and a text of {len(ids) + n_special} tokens exceeds tokenizer.max_length={max_length}",
                    "set tokenizer.truncation=true to cut long texts, or raise tokenizer.max_length",
                )
                ids = ids[: max_length - n_special]
            rows.append([self.bos_id, *ids, self.eos_id] if add_special_tokens else ids)
        return self.pad(rows, max_length) if padding else rows

    def pad(self, rows: list[list[int]], length: int | None = None) -> list[list[int]]:
        """Rows padded with `<PAD>` on the right to `length` (default: the longest row)."""
        longest = max((len(r) for r in rows), default=0)
        length = longest if length is None else length
        require(longest <= length, "tokenizer.max_length", f"is {length}, but a row has {longest} tokens", "truncate the rows first")
        return [[*r, *[self.pad_id] * (length - len(r))] for r in rows]

    def state(self) -> dict:
        return {
            "kind": self.kind,
            "vocab_size": self.vocab_size_setting,
            "min_frequency": self.min_frequency,
            "max_length": self.max_length,
            "padding": self.padding,
            "truncation": self.truncation,
            "words": self.words,
        }

    @classmethod
    def from_state(cls, state: dict) -> "WordTokenizer":
        tok = cls(**{k: v for k, v in state.items() if k not in ("kind", "words")})
        if state.get("words") is not None:
            tok._set_words(state["words"])
        return tok

    def save(self, directory: str | Path) -> Path:
        require_fitted(self.words is not None, self.kind)
        return write_state(self, directory)
