import pytest

from mlm_lab.data.metrics import exact_match


def test_overall_and_by_length():
    m = exact_match(["1", "22", "33", "x"], ["1", "22", "34", "4"])
    assert m == {"exact_match": 0.5, "exact_match_len1": 0.5, "exact_match_len2": 0.5}


def test_mismatched_or_empty_inputs_are_refused():
    with pytest.raises(ValueError):
        exact_match(["1"], ["1", "2"])
    with pytest.raises(ValueError):
        exact_match([], [])
