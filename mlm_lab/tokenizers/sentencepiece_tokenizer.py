"""SentencePiece BPE or unigram, trained on the training split, lossless for any Unicode text.

Id layout: 0 `<pad>`, 1 `<bos>`, 2 `<eos>`, 3 `<unk>`, then the user specials (control symbols, so
sentencepiece never produces them from text), then "\\n", then the 256 byte pieces `<0x00>`..`<0xFF>`
(with byte_fallback), then the learned pieces. "\\n" is a user-defined symbol because sentencepiece
trains on single lines and would otherwise never see it, while our documents are multi-line.

Lossless: identity normalisation, no dummy prefix, no whitespace folding and byte fallback make
decode(encode(s)) == s for every string. One character needs help: sentencepiece writes spaces as
U+2581 "▁" and turns every "▁" back into a space when decoding, so `encode` emits a literal "▁" as its
three UTF-8 byte pieces, which decode verbatim. Plain `SentencePieceProcessor(model_file=...)` on the
saved `tokenizer.model` gives the same ids for every text without "▁".
"""

import base64
import io
import os
import re
import tempfile
from pathlib import Path

import sentencepiece as spm
from sentencepiece import sentencepiece_model_pb2

from mlm_lab.errors import ConfigError, require
from mlm_lab.tokenizers import model_cache
from mlm_lab.tokenizers.base import check_ids, check_text, check_training_texts, check_user_specials, require_fitted, write_state

MODEL_TYPES = ("bpe", "unigram")
BUILTIN = ("<pad>", "<bos>", "<eos>", "<unk>")
NEWLINE = "\n"
SPACE_SYMBOL = "\u2581"  # sentencepiece's stand-in for " "
# sentencepiece silently skips training lines longer than this many bytes (its default is 4192)
MAX_SENTENCE_BYTES = 1 << 16


class SentencePieceTokenizer:
    """Registered as `sentencepiece_bpe` and `sentencepiece_unigram`; `kind` follows `model_type`."""

    def __init__(
        self,
        model_type: str = "bpe",
        vocab_size: int = 4096,
        character_coverage: float = 1.0,
        byte_fallback: bool = True,
        user_specials: list[str] | tuple[str, ...] = ("<|endoftext|>",),
        input_sentence_size: int = 2_000_000,
        seed: int = 0,
        num_threads: int | None = None,
        cache_dir: str | None = None,
    ):
        """
        Args:
            character_coverage: share of the training characters that get their own piece; the rest
                fall back to bytes. 1.0 suits Spanish (¿ ¡ ñ á all get pieces).
            byte_fallback: characters without a piece become UTF-8 byte pieces instead of `<unk>`;
                without it the round trip is lossy.
            user_specials: extra control tokens, e.g. a document separator; never produced from text.
            input_sentence_size: most training lines sentencepiece samples (shuffled); 0 reads them all.
            seed: sentencepiece's random seed (line sampling).
            num_threads: training threads; None uses every core. Unigram results depend on it (its
                sums run per thread), BPE results do not; pin it to rebuild a unigram model elsewhere.
            cache_dir: cache root for trained models; None means $MLM_LAB_CACHE or ~/.cache/mlm_lab.
        """
        require(model_type in MODEL_TYPES, "tokenizer.model_type", f"is {model_type!r}", f"use one of {list(MODEL_TYPES)}")
        self.user_specials = check_user_specials(user_specials, (*BUILTIN, NEWLINE))
        # sentencepiece's trainer takes lists as one comma-joined string
        require(
            not any("," in s for s in self.user_specials),
            "tokenizer.user_specials",
            f"{self.user_specials!r} has a comma, which sentencepiece cannot take in a special",
            "drop the comma from the token",
        )
        reserved = len(BUILTIN) + len(self.user_specials) + 1 + (256 if byte_fallback else 0)
        require(
            vocab_size > reserved,
            "tokenizer.vocab_size",
            f"is {vocab_size}, but the specials{' and the 256 byte pieces' if byte_fallback else ''} alone take {reserved} ids",
            f"set tokenizer.vocab_size well above {reserved} (e.g. 4096): the training text's characters and merges need ids too",
        )
        # sentencepiece's own bounds; beyond them its trainer fails with an INTERNAL or INVALID_ARGUMENT error
        require(vocab_size < 2**31, "tokenizer.vocab_size", f"is {vocab_size}", "use at most 2147483647 (e.g. 4096)")
        require(
            0.98 <= character_coverage <= 1,
            "tokenizer.character_coverage",
            f"is {character_coverage}",
            "use a share in [0.98, 1] (sentencepiece's range), e.g. 1.0 or 0.9995",
        )
        ok = num_threads is None or 1 <= num_threads < 2**31
        require(ok, "tokenizer.num_threads", f"is {num_threads}", "use null (every core) or 1 or more")
        ok = 0 <= input_sentence_size < 2**63
        require(ok, "tokenizer.input_sentence_size", f"is {input_sentence_size}", "use 0 (all lines) or a positive cap")
        require(0 <= seed < 2**32, "tokenizer.seed", f"is {seed}", "use a seed in [0, 4294967295], e.g. 0")
        self.model_type = model_type
        self.vocab_size_setting = vocab_size
        self.character_coverage = character_coverage
        self.byte_fallback = byte_fallback
        self.input_sentence_size = input_sentence_size
        self.seed = seed
        self.num_threads = num_threads
        self.cache_dir = cache_dir
        self.pad_id, self.bos_id, self.eos_id, self.unk_id = 0, 1, 2, 3
        self.cache_hit: bool | None = None  # set by fit: whether the model came from the cache
        self._model: bytes | None = None
        self._sp: spm.SentencePieceProcessor | None = None
        self._space_bytes: list[int] = []

    @property
    def kind(self) -> str:
        return f"sentencepiece_{self.model_type}"

    def settings(self) -> dict:
        """Everything that shapes the trained model (the cache folder does not)."""
        return {
            "model_type": self.model_type,
            "vocab_size": self.vocab_size_setting,
            "character_coverage": self.character_coverage,
            "byte_fallback": self.byte_fallback,
            "user_specials": self.user_specials,
            "input_sentence_size": self.input_sentence_size,
            "seed": self.seed,
            "num_threads": self.num_threads,
        }

    def _threads(self) -> int:
        return self.num_threads or os.cpu_count() or 1

    def _cache_settings(self) -> dict:
        """What decides the trained bytes: the settings, the library, and for unigram the thread count actually used."""
        settings = {k: v for k, v in self.settings().items() if k != "num_threads"}
        threads = self._threads() if self.model_type == "unigram" else None
        return {"trainer": "sentencepiece", "version": spm.__version__, **settings, "threads": threads}

    @property
    def special_ids(self) -> frozenset[int]:
        """pad, bos, eos and the user specials (ids 4, 5, ...); `<unk>` is never produced with byte_fallback."""
        first = len(BUILTIN)
        return frozenset({self.pad_id, self.bos_id, self.eos_id, *range(first, first + len(self.user_specials))})

    @property
    def needs_fit(self) -> bool:
        return self._sp is None

    @property
    def vocab_size(self) -> int:
        require_fitted(self._sp is not None, self.kind)
        return self._sp.vocab_size()

    def fit(self, texts: list[str]) -> None:
        """Train on the training documents, or reuse the cached model trained on the same text and settings."""
        check_training_texts(texts)
        key = model_cache.training_key(texts, self._cache_settings())
        model = model_cache.load(self.cache_dir, key, "tokenizer.model", self.kind)
        self.cache_hit = model is not None
        if model is None:
            model = self._train(texts)
            model_cache.store(self.cache_dir, key, "tokenizer.model", model)
        self._load(model)

    def _train(self, texts: list[str]) -> bytes:
        writer = io.BytesIO()
        with tempfile.TemporaryDirectory(prefix="mlm_lab_spm_") as tmp:
            path = Path(tmp) / "train.txt"
            with path.open("w", encoding="utf-8", newline="\n") as f:
                for doc in texts:
                    for line in doc.split(NEWLINE):
                        if line:
                            f.write(line + NEWLINE)
            spm.set_random_generator_seed(self.seed)
            try:
                spm.SentencePieceTrainer.train(input=str(path), model_writer=writer, **self._trainer_args())
            except RuntimeError as e:
                error = _as_config_error(e, self.vocab_size_setting)
                if error is None:
                    raise
                raise error from e
        return _canonical(writer.getvalue(), keep_threads=self.model_type == "unigram")

    def _trainer_args(self) -> dict:
        return dict(
            model_type=self.model_type,
            vocab_size=self.vocab_size_setting,
            character_coverage=self.character_coverage,
            byte_fallback=self.byte_fallback,
            # lossless: no NFKC, no dummy leading space, keep runs of spaces (and let them be pieces)
            normalization_rule_name="identity",
            remove_extra_whitespaces=False,
            add_dummy_prefix=False,
            allow_whitespace_only_pieces=True,
            user_defined_symbols=[NEWLINE],
            control_symbols=self.user_specials,
            pad_id=self.pad_id,
            bos_id=self.bos_id,
            eos_id=self.eos_id,
            unk_id=self.unk_id,
            pad_piece=BUILTIN[0],
            bos_piece=BUILTIN[1],
            eos_piece=BUILTIN[2],
            unk_piece=BUILTIN[3],
            input_sentence_size=self.input_sentence_size,
            shuffle_input_sentence=True,
            max_sentence_length=MAX_SENTENCE_BYTES,
            num_threads=self._threads(),
            minloglevel=2,  # errors reach us as exceptions; its progress lines would flood the run log
        )

    def _load(self, model: bytes) -> None:
        self._model = model
        self._sp = spm.SentencePieceProcessor(model_proto=model)
        if self.byte_fallback:
            self._space_bytes = [self._sp.piece_to_id(f"<0x{b:02X}>") for b in SPACE_SYMBOL.encode("utf-8")]

    def encode(self, text: str) -> list[int]:
        require_fitted(self._sp is not None, self.kind)
        if SPACE_SYMBOL not in check_text(text, self.kind) or not self._space_bytes:
            return self._sp.encode(text)
        ids: list[int] = []
        for i, part in enumerate(text.split(SPACE_SYMBOL)):
            if i:
                ids += self._space_bytes
            if part:
                ids += self._sp.encode(part)
        return ids

    def decode(self, ids) -> str:
        """Text of the ids; sentencepiece drops the control ids (pad, bos, eos, user specials)."""
        require_fitted(self._sp is not None, self.kind)
        return self._sp.decode(check_ids(ids, self._sp.vocab_size(), self.kind))

    def state(self) -> dict:
        """Settings plus the trained model as base64 (None before fit)."""
        model = base64.b64encode(self._model).decode("ascii") if self._model is not None else None
        return {"kind": self.kind, **self.settings(), "model": model}

    @classmethod
    def from_state(cls, state: dict) -> "SentencePieceTokenizer":
        settings = {k: v for k, v in state.items() if k not in ("kind", "model")}
        tok = cls(**settings)
        if state.get("model") is not None:
            tok._load(base64.b64decode(state["model"]))
        return tok

    def save(self, directory: str | Path) -> Path:
        """Write `tokenizer.json` and the native `tokenizer.model`; returns the json's path."""
        require_fitted(self._model is not None, self.kind)
        path = write_state(self, directory)
        (Path(directory) / "tokenizer.model").write_bytes(self._model)
        return path


def _canonical(model: bytes, keep_threads: bool) -> bytes:
    """The model without the parts of its trainer record that do not shape it (temp input path; BPE's thread count).

    sentencepiece stores them in the model, so two trainings on the same text and settings would
    otherwise differ in bytes, in state() and in tokenizer_sha256.
    """
    proto = sentencepiece_model_pb2.ModelProto()
    proto.ParseFromString(model)
    del proto.trainer_spec.input[:]
    if not keep_threads:
        proto.trainer_spec.ClearField("num_threads")
    return proto.SerializeToString()


def _as_config_error(error: RuntimeError, vocab_size: int) -> ConfigError | None:
    """sentencepiece reports bad vocabulary sizes as RuntimeErrors; name the key and the bound it gives."""
    message = str(error)
    if m := re.search(r"Vocabulary size too high.*<= (\d+)", message):
        return ConfigError(
            f"tokenizer.vocab_size: {vocab_size} is more than this training text supports (at most {m[1]}). "
            f"Fix: set tokenizer.vocab_size to {m[1]} or less, or train on more text"
        )
    if m := re.search(r"smaller than required_chars\. \d+ vs (\d+)", message):
        return ConfigError(
            f"tokenizer.vocab_size: {vocab_size} is too small: the specials, byte pieces and the training text's characters "
            f"need {m[1]} ids. Fix: set tokenizer.vocab_size to at least {m[1]}, or lower tokenizer.character_coverage"
        )
    return None
