"""Byte-level BPE (GPT-2/GPT-4 style) trained with Hugging Face `tokenizers`, lossless for any Unicode text.

Id layout: 0 `<pad>`, 1 `<bos>`, 2 `<eos>`, then the user specials, then the 256 byte symbols, then merges.

Text is split by the GPT-4 (cl100k) pre-tokenisation regex, then mapped byte for byte onto 256
printable symbols, so every string encodes and decodes exactly. The Onig engine in `tokenizers`
accepts the regex's possessive quantifiers (`?+`, `++`) as written.

Specials are added tokens, which Hugging Face would otherwise cut out of the input text, so a literal
"<|endoftext|>" in a story would become the special's id. `encode_special_tokens = True` makes it
encode such text as ordinary characters; that flag is not saved in `tokenizer_hf.json`, so set it
after `tokenizers.Tokenizer.from_file` to get the same ids as here for text that spells a special.
"""

from pathlib import Path

import tokenizers
from tokenizers import Regex, decoders, models, pre_tokenizers, trainers

from mlm_lab.errors import ConfigError, require
from mlm_lab.tokenizers import model_cache
from mlm_lab.tokenizers.base import check_ids, check_text, check_training_texts, check_user_specials, require_fitted, write_state

BUILTIN = ("<pad>", "<bos>", "<eos>")
# tiktoken's cl100k_base pattern
GPT4_SPLIT = r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]++[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+"""


class ByteLevelBPETokenizer:
    """Byte-level BPE with the GPT-4 split; `fit` trains it (or reuses the cached result)."""

    kind = "bytelevel_bpe"

    def __init__(
        self,
        vocab_size: int = 4096,
        min_frequency: int = 2,
        user_specials: list[str] | tuple[str, ...] = ("<|endoftext|>",),
        cache_dir: str | None = None,
    ):
        """
        Args:
            vocab_size: ids in all, specials and the 256 byte symbols included.
            min_frequency: a pair must occur this often in the training text to be merged.
            user_specials: extra special tokens, e.g. a document separator; never produced from text.
            cache_dir: cache root for trained models; None means $MLM_LAB_CACHE or ~/.cache/mlm_lab.
        """
        self.user_specials = check_user_specials(user_specials, BUILTIN)
        reserved = len(BUILTIN) + len(self.user_specials) + 256
        require(
            vocab_size > reserved,
            "tokenizer.vocab_size",
            f"is {vocab_size}, but the specials and the 256 byte symbols alone take {reserved} ids",
            f"set tokenizer.vocab_size well above {reserved} (e.g. 4096) so there is room for merges",
        )
        # the Rust trainer takes 64-bit counts: a larger number is an OverflowError from inside it
        require(vocab_size < 2**31, "tokenizer.vocab_size", f"is {vocab_size}", "use at most 2147483647 (e.g. 4096)")
        require(1 <= min_frequency < 2**63, "tokenizer.min_frequency", f"is {min_frequency}", "use 1 or more (e.g. 2)")
        self.vocab_size_setting = vocab_size
        self.min_frequency = min_frequency
        self.cache_dir = cache_dir
        self.pad_id, self.bos_id, self.eos_id = 0, 1, 2
        self.cache_hit: bool | None = None  # set by fit: whether the model came from the cache
        self._hf: tokenizers.Tokenizer | None = None

    def settings(self) -> dict:
        """Everything that shapes the trained model (the cache folder does not)."""
        return {"vocab_size": self.vocab_size_setting, "min_frequency": self.min_frequency, "user_specials": self.user_specials}

    @property
    def special_ids(self) -> frozenset[int]:
        """pad, bos, eos and the user specials: ids 0 .. 2 + len(user_specials)."""
        return frozenset(range(len(BUILTIN) + len(self.user_specials)))

    @property
    def needs_fit(self) -> bool:
        return self._hf is None

    @property
    def vocab_size(self) -> int:
        require_fitted(self._hf is not None, self.kind)
        return self._hf.get_vocab_size()

    def fit(self, texts: list[str]) -> None:
        """Train on the training documents, or reuse the cached model trained on the same text and settings."""
        check_training_texts(texts)
        key = model_cache.training_key(
            texts, {"trainer": "hf_bytelevel_bpe", "version": tokenizers.__version__, "split": GPT4_SPLIT, **self.settings()}
        )
        cached = model_cache.load(self.cache_dir, key, "tokenizer_hf.json", self.kind)
        self.cache_hit = cached is not None
        if cached is not None:
            self._load(cached.decode("utf-8"))
            return
        hf = self._untrained()
        trainer = trainers.BpeTrainer(
            vocab_size=self.vocab_size_setting,
            min_frequency=self.min_frequency,
            special_tokens=[*BUILTIN, *self.user_specials],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        )
        hf.train_from_iterator(texts, trainer=trainer, length=len(texts))
        # the trainer stops early when no pair reaches min_frequency; a smaller vocabulary than asked
        # would silently change the model's size, so say so instead
        if hf.get_vocab_size() < self.vocab_size_setting:
            raise ConfigError(
                f"tokenizer.vocab_size: {self.vocab_size_setting} is more than this training text supports "
                f"(at most {hf.get_vocab_size()} with tokenizer.min_frequency={self.min_frequency}). "
                f"Fix: set tokenizer.vocab_size to {hf.get_vocab_size()} or less, lower tokenizer.min_frequency, or train on more text"
            )
        self._load(hf.to_str())
        model_cache.store(self.cache_dir, key, "tokenizer_hf.json", self._hf.to_str().encode("utf-8"))

    @staticmethod
    def _untrained() -> tokenizers.Tokenizer:
        hf = tokenizers.Tokenizer(models.BPE())
        hf.pre_tokenizer = pre_tokenizers.Sequence(
            [
                pre_tokenizers.Split(Regex(GPT4_SPLIT), behavior="isolated"),
                pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
            ]
        )
        hf.decoder = decoders.ByteLevel()
        return hf

    def _load(self, hf_json: str) -> None:
        self._hf = tokenizers.Tokenizer.from_str(hf_json)
        self._hf.encode_special_tokens = True  # see the module docstring

    def encode(self, text: str) -> list[int]:
        require_fitted(self._hf is not None, self.kind)
        return self._hf.encode(check_text(text, self.kind), add_special_tokens=False).ids

    def decode(self, ids) -> str:
        """Text of the ids, specials dropped."""
        require_fitted(self._hf is not None, self.kind)
        return self._hf.decode(check_ids(ids, self._hf.get_vocab_size(), self.kind), skip_special_tokens=True)

    def state(self) -> dict:
        """Settings plus the Hugging Face tokenizer JSON as a string (None before fit)."""
        return {"kind": self.kind, **self.settings(), "hf_json": self._hf.to_str() if self._hf is not None else None}

    @classmethod
    def from_state(cls, state: dict) -> "ByteLevelBPETokenizer":
        settings = {k: v for k, v in state.items() if k not in ("kind", "hf_json")}
        tok = cls(**settings)
        if state.get("hf_json") is not None:
            tok._load(state["hf_json"])
        return tok

    def save(self, directory: str | Path) -> Path:
        """Write `tokenizer.json` and the native `tokenizer_hf.json`; returns the json's path."""
        require_fitted(self._hf is not None, self.kind)
        path = write_state(self, directory)
        (Path(directory) / "tokenizer_hf.json").write_text(self._hf.to_str(), encoding="utf-8")
        return path
