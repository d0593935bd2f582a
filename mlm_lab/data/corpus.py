"""What every text source hands the language-modelling task: documents split for training and validation."""

import hashlib
from dataclasses import dataclass, field


@dataclass
class Corpus:
    """The documents of one text source, already split; `files` maps every file read to its sha256."""

    name: str
    train: list[str]
    val: list[str]
    files: dict[str, str] = field(default_factory=dict)

    def fingerprint(self) -> str:
        """sha256 over the split documents: equal fingerprints mean the same training and validation text."""
        h = hashlib.sha256()
        for split in (self.train, self.val):
            h.update(b"\x00split\x00")
            for doc in split:
                h.update(doc.encode("utf-8"))
                h.update(b"\x00doc\x00")
        return h.hexdigest()
