from tests.conftest import load_bench


def test_old_spelling_accents_whole_words_only():
    old_spelling = load_bench("text_e2e").old_spelling
    assert old_spelling("Fue a ver o no, y dio e hizo; A la casa.") == "Fué á ver ó no, y dió é hizo; Á la casa."
    assert old_spelling("la ausencia fueron odio; vio—dio") == "la ausencia fueron odio; vió—dió"  # inside words: unchanged
    assert old_spelling("sin cambio") == "sin cambio"
