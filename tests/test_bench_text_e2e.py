import importlib.util
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench" / "text_e2e.py"


def load_bench():
    spec = importlib.util.spec_from_file_location("text_e2e", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_old_spelling_accents_whole_words_only():
    old_spelling = load_bench().old_spelling
    assert old_spelling("Fue a ver o no, y dio e hizo; A la casa.") == "Fué á ver ó no, y dió é hizo; Á la casa."
    assert old_spelling("la ausencia fueron odio; vio—dio") == "la ausencia fueron odio; vió—dió"  # inside words: unchanged
    assert old_spelling("sin cambio") == "sin cambio"
