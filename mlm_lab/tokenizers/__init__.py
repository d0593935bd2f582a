"""Tokenizers share one interface: encode, decode, vocab_size, special ids, state/save/load."""

import json
from pathlib import Path

from mlm_lab.tokenizers.char import CharTokenizer

TOKENIZERS = {CharTokenizer.kind: CharTokenizer}


def tokenizer_from_state(state: dict):
    """Rebuild a tokenizer from its `state()` dict, whatever its kind."""
    kind = state.get("kind")
    if kind not in TOKENIZERS:
        raise ValueError(f"unknown tokenizer kind {kind!r}; known kinds: {sorted(TOKENIZERS)}")
    return TOKENIZERS[kind].from_state(state)


def load_tokenizer(directory: str | Path):
    """Load the tokenizer saved by `save(directory)`."""
    path = Path(directory) / "tokenizer.json"
    if not path.is_file():
        raise FileNotFoundError(f"no tokenizer.json in {directory}")
    return tokenizer_from_state(json.loads(path.read_text()))
