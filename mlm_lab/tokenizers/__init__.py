"""Tokenizers share one interface (see `base.Tokenizer`): encode, decode, vocab_size, special ids, fit, state/save/load."""

import hashlib
import json
from pathlib import Path

from mlm_lab.errors import ConfigError
from mlm_lab.tokenizers.base import Tokenizer
from mlm_lab.tokenizers.bytelevel_bpe import ByteLevelBPETokenizer
from mlm_lab.tokenizers.char import CharTokenizer
from mlm_lab.tokenizers.hf_json import HFJsonTokenizer
from mlm_lab.tokenizers.sentencepiece_tokenizer import SentencePieceTokenizer
from mlm_lab.tokenizers.word import WordTokenizer

# kind (state()["kind"]) -> class; one sentencepiece class serves both of its model types
TOKENIZERS = {
    "char": CharTokenizer,
    "word": WordTokenizer,
    "bytelevel_bpe": ByteLevelBPETokenizer,
    "sentencepiece_bpe": SentencePieceTokenizer,
    "sentencepiece_unigram": SentencePieceTokenizer,
    "hf": HFJsonTokenizer,  # a tokenizer.json imported with a Hugging Face model (trainer.init_from=hf:DIR)
}

__all__ = ["TOKENIZERS", "Tokenizer", "load_tokenizer", "tokenizer_from_state", "tokenizer_sha256"]


def tokenizer_from_state(state: dict) -> Tokenizer:
    """Rebuild a tokenizer from its `state()` dict, whatever its kind."""
    kind = state.get("kind")
    if kind not in TOKENIZERS:
        raise ConfigError(f"tokenizer state: unknown kind {kind!r}. Fix: use a state written by one of the kinds {sorted(TOKENIZERS)}")
    return TOKENIZERS[kind].from_state(state)


def load_tokenizer(directory: str | Path) -> Tokenizer:
    """Load the tokenizer saved by `save(directory)`."""
    path = Path(directory) / "tokenizer.json"
    if not path.is_file():
        raise FileNotFoundError(f"no tokenizer.json in {directory}")
    fix = "Fix: export the model again, or take the tokenizer from the run's checkpoint (it holds the same state)"
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ConfigError(f"{path} is not a tokenizer file: truncated or of another type ({type(e).__name__}: {e}). {fix}") from None
    if not isinstance(state, dict):
        raise ConfigError(f"{path} holds a JSON {type(state).__name__}, not a tokenizer state (an object with a `kind`). {fix}")
    try:
        return tokenizer_from_state(state)
    except ConfigError:
        raise
    except Exception as e:  # a corrupt model inside valid JSON: sentencepiece / tokenizers raise their own errors
        raise ConfigError(f"{path}: the {state.get('kind')} tokenizer could not be rebuilt ({type(e).__name__}: {e}). {fix}") from None


def tokenizer_sha256(tokenizer: Tokenizer) -> str:
    """sha256 of the canonical JSON of `state()`: equal hashes mean the same ids for every text."""
    return hashlib.sha256(json.dumps(tokenizer.state(), sort_keys=True, separators=(",", ":")).encode("utf-8")).hexdigest()
