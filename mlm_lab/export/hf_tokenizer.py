"""mlm_lab's tokenizers as Hugging Face `tokenizers` files that `AutoTokenizer` loads, with the same ids.

- sentencepiece (BPE or unigram): the pieces and scores as a `tokenizers` BPE (merges rebuilt from the pieces,
  ranked by the merged piece's score, as sentencepiece merges) or Unigram model, byte fallback on, " " written as
  "▁" and no dummy prefix (mlm_lab trains them lossless); `tokenizer.model` travels beside it for tools that read
  sentencepiece (llama.cpp's converter). One difference: mlm_lab encodes a literal "▁" (U+2581) as its three byte
  pieces, which no `tokenizers` pipeline can express, so text holding that character gets other ids.
- byte-level BPE: already a `tokenizers` model; exported as it is.
- char and word: `WordLevel` models over the characters (split one by one) or the whitespace-separated words
  (split on exactly the characters Python's `str.split()` splits on).

Every tokenizer prepends `<bos>` (the model saw it before every document and prompt) and keeps the specials'
ids; `split_special_tokens` makes text that spells a special (a literal "<|endoftext|>") encode as text, as in
mlm_lab. The mlm_lab state goes beside it (`mlm_lab_tokenizer.json`) so an import rebuilds the very tokenizer.
"""

import json
import sys
from pathlib import Path

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

from mlm_lab.errors import ConfigError

TOKENIZER_STATE = "mlm_lab_tokenizer.json"
SPACE = "\u2581"
ESCAPE = "\ue000"  # a private-use character: marks text characters in an exported unigram model (see _sentencepiece)
# what str.split() splits on: Python's whitespace, which is wider than Unicode's White_Space (\x1c-\x1f)
PY_WHITESPACE = "".join(chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace())


def _sentencepiece(tok) -> tuple[Tokenizer, list[str]]:
    from sentencepiece import sentencepiece_model_pb2

    proto = sentencepiece_model_pb2.ModelProto()
    proto.ParseFromString(tok._model)
    P = sentencepiece_model_pb2.ModelProto.SentencePiece
    pieces = [(p.piece, p.score, p.type) for p in proto.pieces]
    space = [normalizers.Replace(" ", SPACE)]
    decode = [decoders.Replace(SPACE, " ")]
    split = None
    if tok.model_type == "bpe":
        vocab = {piece: i for i, (piece, _, _) in enumerate(pieces)}
        merges = []
        for piece, _, kind in pieces:  # ids follow the score: earlier merges first
            if kind != P.NORMAL or len(piece) < 2:
                continue
            splits = [(piece[:j], piece[j:]) for j in range(1, len(piece)) if piece[:j] in vocab and piece[j:] in vocab]
            merges += sorted(splits, key=lambda ab: (vocab[ab[0]], vocab[ab[1]]))
        model = models.BPE(vocab, merges, unk_token="<unk>", fuse_unk=True, byte_fallback=True)
    else:
        # sentencepiece's Viterbi never takes control, unknown or byte pieces from text, but a `tokenizers` Unigram
        # matches every piece of its vocabulary, so text that spells "<bos>" or "<0x41>" would become that id. So
        # the first character of each such piece never reaches the model bare: where it is a piece itself, the text
        # and the normal pieces alike carry ESCAPE after it (the pieces match what they matched before, the hidden
        # ones nothing); where it is not (then no normal piece holds it), it is cut off on its own, as bytes.
        hidden = (P.CONTROL, P.UNKNOWN, P.BYTE)
        normal = {piece for piece, _, kind in pieces if kind == P.NORMAL}
        first = {piece[0] for piece, _, kind in pieces if kind in hidden} - {" ", SPACE, ESCAPE}
        marked = sorted(c for c in first if c in normal)

        def escaped(piece: str) -> str:
            for c in marked:
                piece = piece.replace(c, c + ESCAPE)
            return piece

        vocab = [(piece if kind in hidden else escaped(piece), score) for piece, score, kind in pieces]
        model = models.Unigram(vocab, unk_id=tok.unk_id, byte_fallback=True)
        space = [normalizers.Replace(c, c + ESCAPE) for c in marked] + space
        decode.append(decoders.Replace(ESCAPE, ""))
        alone = "".join(c if c.isalnum() else "\\" + c for c in sorted(first - set(marked)))
        split = pre_tokenizers.Split(Regex(f"[{alone}]"), behavior="isolated") if alone else None
    hf = Tokenizer(model)
    hf.normalizer = normalizers.Sequence(space)
    if split is not None:
        hf.pre_tokenizer = split
    hf.decoder = decoders.Sequence([*decode, decoders.ByteFallback(), decoders.Fuse()])
    specials = {i: piece for i, (piece, _, kind) in enumerate(pieces) if kind == P.CONTROL}
    # user-defined pieces ("\n") are cut out before the model, as sentencepiece does; never specials
    hf.add_tokens([AddedToken(piece, normalized=False, special=False) for piece, _, kind in pieces if kind == P.USER_DEFINED])
    return hf, specials


def _word_level(itos: list[str], unk: str | None, split: pre_tokenizers.PreTokenizer, decoder) -> Tokenizer:
    hf = Tokenizer(models.WordLevel({t: i for i, t in enumerate(itos)}, unk_token=unk or itos[0]))
    hf.pre_tokenizer = split
    if decoder is not None:
        hf.decoder = decoder
    return hf


def _char(tok) -> tuple[Tokenizer, list[str]]:
    from mlm_lab.tokenizers.char import SPECIALS, UNK, UNK_TEXT

    unk = UNK if tok.unk_id is not None else None
    each = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    decoder = decoders.Sequence([decoders.Replace(UNK, UNK_TEXT), decoders.Fuse()]) if unk else decoders.Fuse()
    return _word_level(tok.itos, unk, each, decoder), dict(enumerate(SPECIALS))


def _word(tok) -> tuple[Tokenizer, list[str]]:
    from mlm_lab.tokenizers.word import SPECIALS

    itos = [*SPECIALS, *tok.words]
    split = pre_tokenizers.Split(Regex(f"[{PY_WHITESPACE}]+"), behavior="removed")
    # no decoder: tokenizers joins the tokens with single spaces, as WordTokenizer.decode does
    return _word_level(itos, SPECIALS[tok.unk_id], split, None), {i: itos[i] for i in tok.special_ids}


def _bytelevel(tok) -> tuple[Tokenizer, list[str]]:
    hf = Tokenizer.from_str(tok._hf.to_str())
    return hf, {i: hf.id_to_token(i) for i in tok.special_ids}


def _with_specials(hf: Tokenizer, specials: dict[int, str]) -> Tokenizer:
    """`hf` with `specials` as special added tokens at exactly these ids (add_special_tokens would look them up by name)."""
    data = json.loads(hf.to_str())
    added = [t for t in data["added_tokens"] if t["id"] not in specials]
    flags = {"single_word": False, "lstrip": False, "rstrip": False, "normalized": False, "special": True}
    data["added_tokens"] = sorted(added + [{"id": i, "content": c, **flags} for i, c in specials.items()], key=lambda t: t["id"])
    return Tokenizer.from_str(json.dumps(data))


BUILDERS = {
    "sentencepiece_bpe": _sentencepiece,
    "sentencepiece_unigram": _sentencepiece,
    "char": _char,
    "word": _word,
    "bytelevel_bpe": _bytelevel,
}


def hf_tokenizer(tok) -> tuple[Tokenizer, dict[int, str]]:
    """The `tokenizers.Tokenizer` that gives `tok`'s ids with `<bos>` first (add_special_tokens=True), and its specials."""
    if tok.kind not in BUILDERS:
        raise ConfigError(f"format=hf: the {tok.kind} tokenizer has no Hugging Face form. Fix: train with one of {sorted(BUILDERS)}")
    hf, specials = BUILDERS[tok.kind](tok)
    hf = _with_specials(hf, specials)
    bos = specials[tok.bos_id]
    hf.post_processor = processors.TemplateProcessing(single=f"{bos} $A", pair=f"{bos} $A $B", special_tokens=[(bos, tok.bos_id)])
    return hf, specials


def write_hf_tokenizer(tok, directory: str | Path, model_max_length: int) -> list[str]:
    """tokenizer.json, tokenizer_config.json and special_tokens_map.json (plus tokenizer.model for sentencepiece)."""
    directory = Path(directory)
    hf, specials = hf_tokenizer(tok)
    hf.save(str(directory / "tokenizer.json"))
    # no unk_token: mlm_lab decodes an unknown word or character as text (<UNK>, U+FFFD), which a special would drop
    names = {"bos_token": tok.bos_id, "eos_token": tok.eos_id, "pad_token": tok.pad_id}
    special = {name: specials[i] for name, i in names.items()}
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        **special,
        "split_special_tokens": True,  # a literal "<|endoftext|>" in the text is text, as in mlm_lab
        "clean_up_tokenization_spaces": False,
        "add_bos_token": True,
        "model_max_length": model_max_length,
    }
    (directory / "tokenizer_config.json").write_text(json.dumps(config, indent=2, ensure_ascii=False))
    (directory / "special_tokens_map.json").write_text(json.dumps(special, indent=2, ensure_ascii=False))
    (directory / TOKENIZER_STATE).write_text(json.dumps(tok.state()), encoding="utf-8")
    files = ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", TOKENIZER_STATE]
    if tok.kind.startswith("sentencepiece"):
        (directory / "tokenizer.model").write_bytes(tok._model)
        files.append("tokenizer.model")
    return files


def tokenizer_state_from_folder(directory: Path, hf_config: dict) -> dict:
    """mlm_lab's own state when mlm-export wrote the folder, else the folder's tokenizer.json wrapped as kind `hf`."""
    own = directory / TOKENIZER_STATE
    if own.is_file():
        return json.loads(own.read_text(encoding="utf-8"))
    path = directory / "tokenizer.json"
    if not path.is_file():
        raise ConfigError(
            f"trainer.init_from: hf:{directory} has no tokenizer.json, so its token ids mean nothing to mlm_lab. "
            "Fix: save the tokenizer beside the model (tokenizer.save_pretrained(DIR)); a sentencepiece-only folder can be "
            "converted with AutoTokenizer.from_pretrained(DIR).save_pretrained(DIR)"
        )
    special = {}
    config_path = directory / "tokenizer_config.json"
    if config_path.is_file():
        special = json.loads(config_path.read_text(encoding="utf-8"))
    hf = Tokenizer.from_file(str(path))

    def token_id(name: str, fallback) -> int | None:
        value = special.get(name)
        value = value.get("content") if isinstance(value, dict) else value
        i = hf.token_to_id(value) if isinstance(value, str) else None
        return i if i is not None else fallback

    bos = token_id("bos_token", hf_config.get("bos_token_id"))
    eos = token_id("eos_token", hf_config.get("eos_token_id"))
    pad = token_id("pad_token", hf_config.get("pad_token_id"))
    if bos is None or eos is None:
        raise ConfigError(
            f"trainer.init_from: hf:{directory} names no bos or eos token (tokenizer_config.json or config.json), which mlm_lab "
            "puts around every document. Fix: set bos_token and eos_token in tokenizer_config.json"
        )
    return {"kind": "hf", "hf_json": hf.to_str(), "bos_id": bos, "eos_id": eos, "pad_id": eos if pad is None else pad}
