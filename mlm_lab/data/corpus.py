"""What every text source hands the language-modelling task: documents split for training and validation."""

import hashlib
from dataclasses import dataclass, field


@dataclass
class Corpus:
    """The documents of one text source, already split; `files` maps every file read to its sha256.

    `heldout`: documents kept out of training and validation alike (whole works or tales), scored beside validation
    at every evaluation as a check of how the model does on text unlike its own validation chapters.
    """

    name: str
    train: list[str]
    val: list[str]
    files: dict[str, str] = field(default_factory=dict)
    heldout: list[str] = field(default_factory=list)
    _fingerprint: str | None = field(default=None, init=False, repr=False, compare=False)

    def fingerprint(self) -> str:
        """sha256 over the split documents: equal fingerprints mean the same training and validation text."""
        if self._fingerprint is None:
            h = hashlib.sha256()
            splits = (self.train, self.val, self.heldout) if self.heldout else (self.train, self.val)  # as before without one
            for split in splits:
                h.update(len(split).to_bytes(8, "little"))
                for doc in split:
                    data = doc.encode("utf-8")
                    h.update(len(data).to_bytes(8, "little"))  # length-prefixed: no two splittings hash alike
                    h.update(data)
            self._fingerprint = h.hexdigest()
        return self._fingerprint
