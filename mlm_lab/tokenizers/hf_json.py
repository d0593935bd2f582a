"""A Hugging Face `tokenizer.json` as an mlm_lab tokenizer: what a model imported from another tool speaks.

It is fixed (nothing to fit) and keeps the folder's ids, so imported weights keep their meaning. `encode` adds no
specials and, like every mlm_lab tokenizer, encodes text that spells a special as text.
"""

from pathlib import Path

import tokenizers

from mlm_lab.tokenizers.base import check_ids, check_text, write_state


class HFJsonTokenizer:
    """Registered as kind `hf`; built by `trainer.init_from=hf:DIR` from the folder's tokenizer files."""

    kind = "hf"

    def __init__(self, hf_json: str, bos_id: int, eos_id: int, pad_id: int):
        self.hf_json = hf_json
        self._hf = tokenizers.Tokenizer.from_str(hf_json)
        self._hf.encode_special_tokens = True
        self.bos_id, self.eos_id, self.pad_id = bos_id, eos_id, pad_id

    @property
    def vocab_size(self) -> int:
        return self._hf.get_vocab_size()

    @property
    def special_ids(self) -> frozenset[int]:
        added = self._hf.get_added_tokens_decoder()
        return frozenset({self.bos_id, self.eos_id, self.pad_id, *(i for i, t in added.items() if t.special)})

    @property
    def needs_fit(self) -> bool:
        return False

    def fit(self, texts: list[str]) -> None:
        """Nothing to learn: the imported model's ids are fixed."""

    def encode(self, text: str) -> list[int]:
        return self._hf.encode(check_text(text, self.kind), add_special_tokens=False).ids

    def decode(self, ids) -> str:
        return self._hf.decode(check_ids(ids, self.vocab_size, self.kind), skip_special_tokens=True)

    def state(self) -> dict:
        return {"kind": self.kind, "hf_json": self.hf_json, "bos_id": self.bos_id, "eos_id": self.eos_id, "pad_id": self.pad_id}

    @classmethod
    def from_state(cls, state: dict) -> "HFJsonTokenizer":
        return cls(state["hf_json"], state["bos_id"], state["eos_id"], state["pad_id"])

    def save(self, directory: str | Path) -> Path:
        return write_state(self, directory)
