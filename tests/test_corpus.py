"""Corpus.fingerprint: equal exactly when the training and validation documents are the same."""

from mlm_lab.data.corpus import Corpus


def fingerprint(train, val, name="c") -> str:
    return Corpus(name, list(train), list(val)).fingerprint()


def test_same_documents_same_fingerprint_whatever_the_name_or_files():
    a = Corpus("a", ["one", "two"], ["three"], files={"x.txt": "0" * 64})
    assert a.fingerprint() == fingerprint(["one", "two"], ["three"], name="b")
    assert len(a.fingerprint()) == 64 and a.fingerprint() == a.fingerprint()


def test_any_other_splitting_changes_the_fingerprint():
    base = fingerprint(["ab", "c"], ["d"])
    others = [
        fingerprint(["a", "bc"], ["d"]),  # the same characters, split elsewhere
        fingerprint(["abc"], ["d"]),
        fingerprint(["ab"], ["c", "d"]),  # a document moved to validation
        fingerprint(["ab", "c", "d"], []),
        fingerprint(["ab", "c"], ["d", ""]),  # an empty document counts
        fingerprint(["ab", "c"], ["é"]),
    ]
    assert len({base, *others}) == 1 + len(others)
