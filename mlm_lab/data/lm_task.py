"""Language modelling on text corpora: random training windows, fixed validation windows, bits per byte.

The task loads its corpus (or a mixture of corpora), fits the tokenizer on the training documents when
the tokenizer needs it, and reads every split through the token cache. Metrics are comparable across
tokenizers: `bits_per_byte` = total nats over the validation text / its UTF-8 bytes / ln 2.
"""

import logging
from pathlib import Path

import torch

from mlm_lab.data.corpus import Corpus
from mlm_lab.data.metrics import text_metrics
from mlm_lab.data.plain_format import PlainTextFormat
from mlm_lab.data.task import cannot_encode
from mlm_lab.data.token_cache import TokenStream, cache_key, load_or_tokenize
from mlm_lab.data.windows import batched, random_windows, scoring_windows
from mlm_lab.errors import ConfigError, require
from mlm_lab.generation import GenerationParams
from mlm_lab.storage import cache_root
from mlm_lab.tokenizers import tokenizer_sha256

log = logging.getLogger(__name__)
DEFAULT_PROMPTS = ["Once upon a time", "The"]


class LanguageModelingTask:
    """Next-token prediction over a corpus; `corpus` is a source with `load(cache_dir)` (a Mixture has `shares`)."""

    objective = "bits_per_byte"  # the metric that says how good a run is
    objective_direction = "minimize"
    held_out_splits: tuple[str, ...] = ()  # no test split: the final validation is the result

    def __init__(
        self,
        corpus,
        block_size: int = 256,
        batch_size: int = 32,
        seed: int = 0,
        cache_dir: str | None = None,
        val_stride: int | None = None,
        prompts: list[str] | None = None,
        max_new_tokens: int = 128,
        temperature: float = 0.8,
        top_k: int | None = 50,
    ):
        require(
            hasattr(corpus, "load"),
            "data.corpus",
            f"is not a corpus but a {type(corpus).__name__} (a config without its _target_?)",
            "give data.corpus a _target_ such as mlm_lab.data.corpus_loaders.TextCorpus, or choose a data config (e.g. data=text)",
        )
        for key, value in (("block_size", block_size), ("batch_size", batch_size), ("max_new_tokens", max_new_tokens)):
            require(value > 0, f"data.{key}", f"must be positive, got {value}", f"set data.{key} to a positive integer")
        try:  # the samples of every evaluation use these: refused here, not at the first evaluation after training began
            GenerationParams(max_new_tokens=max_new_tokens, temperature=temperature, top_k=top_k)
        except ConfigError as e:
            raise ConfigError(f"data.{e}") from None
        require(
            val_stride is None or 0 < val_stride <= block_size,
            "data.val_stride",
            f"must be in [1, block_size={block_size}] or null, got {val_stride}",
            "leave data.val_stride null (non-overlapping windows) or set it to e.g. block_size/2",
        )
        self.corpus = corpus
        self.block_size = block_size
        self.batch_size = batch_size
        self.seed = seed
        self.cache_dir = cache_dir
        self.val_stride = val_stride
        self.prompts = list(prompts or DEFAULT_PROMPTS)
        self.defaults = {"max_new_tokens": max_new_tokens, "temperature": temperature, "top_k": top_k, "seed": seed}
        self.text_format = PlainTextFormat()

    def setup(self, tokenizer) -> None:
        """Load the corpora, fit the tokenizer on the training documents if it needs it, and tokenise (cached)."""
        self.tokenizer = tokenizer
        loaded = self.corpus.load(self.cache_dir)
        self.sources: dict[str, Corpus] = loaded if isinstance(loaded, dict) else {loaded.name: loaded}
        shares = getattr(self.corpus, "shares", None) or {name: 1.0 for name in self.sources}
        total = sum(shares.values())
        self.shares = {name: shares[name] / total for name in self.sources}
        if tokenizer.needs_fit:
            tokenizer.fit([doc for corpus in self.sources.values() for doc in corpus.train])
        self.tokenizer_sha256 = tokenizer_sha256(tokenizer)
        # bits per byte compare tokenizers fairly only if none of them drops information (<unk>, folded spaces)
        sample = [corpus.val[0] for corpus in self.sources.values()]
        try:
            self.lossless = all(tokenizer.decode(tokenizer.encode(doc)) == doc for doc in sample)
        except ValueError as e:
            raise cannot_encode(tokenizer, e) from None
        if not self.lossless:
            log.warning("tokenizer %s does not round-trip the validation text: its bits per byte are optimistic", tokenizer.kind)
        self.streams: dict[str, dict[str, TokenStream]] = {}
        for name, corpus in self.sources.items():
            directory = cache_root(self.cache_dir) / "tokens" / cache_key(corpus.fingerprint(), self.tokenizer_sha256)
            splits = ("train", "val", "heldout") if corpus.heldout else ("train", "val")
            self.streams[name] = {split: load_or_tokenize(directory, split, getattr(corpus, split), tokenizer) for split in splits}
            n = len(self.streams[name]["train"].tokens)
            require(
                n > self.block_size + 1,
                "data.block_size",
                f"is {self.block_size} but corpus {name!r} has only {n} training tokens",
                f"set model.context_length (and data.block_size) below {n - 1}, or use a larger corpus",
            )
        self._scored: dict[str, int] = {}  # targets scored per split, counted once
        self.drawn = {name: 0 for name in self.sources}  # training windows drawn per source, for the shares check

    @property
    def max_sequence_length(self) -> int:
        return self.block_size

    def memory_needs(self) -> tuple:
        """Nothing known before the corpus is read: the runner checks the training batch once setup has run."""
        return ()

    def _sources_for_batch(self) -> list[str]:
        """Each row's source: the one furthest behind its share, so shares hold to within a window all run long."""
        names = []
        for _ in range(self.batch_size):
            done = sum(self.drawn.values()) + 1
            name = max(self.sources, key=lambda s: self.shares[s] * done - self.drawn[s])
            self.drawn[name] += 1
            names.append(name)
        return names

    def train_batch(self, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        names = self._sources_for_batch()
        xs, ys = [], []
        for name in self.sources:
            n = names.count(name)
            if n:
                x, y = random_windows(self.streams[name]["train"].tokens, self.block_size, n, generator, self.tokenizer.bos_id)
                xs.append(x)
                ys.append(y)
        return torch.cat(xs), torch.cat(ys)

    def state_dict(self) -> dict:
        """Where the training stream stands beyond the generator: windows drawn per source (mixture shares)."""
        return {"drawn": dict(self.drawn)}

    def load_state_dict(self, state: dict) -> None:
        self.drawn = {name: int(state["drawn"].get(name, 0)) for name in self.sources}

    def train_stats(self) -> dict[str, float]:
        """Share of training windows drawn from each source so far (logged for mixtures)."""
        if len(self.sources) < 2:
            return {}
        total = max(sum(self.drawn.values()), 1)
        return {f"data/share/{name}": count / total for name, count in self.drawn.items()}

    @property
    def split_names(self) -> tuple[str, ...]:
        return ("train", "val", *self.dev_splits)

    @property
    def dev_splits(self) -> tuple[str, ...]:
        """Splits scored beside `val` at every evaluation: `heldout` when a corpus keeps whole works or tales out."""
        streams = getattr(self, "streams", {})  # before setup: none known yet
        return ("heldout",) if any("heldout" in split for split in streams.values()) else ()

    def _windows(self, split: str):
        for name in self.sources:
            if split not in self.streams[name]:
                continue  # a mixture's part without held-out text
            stream = self.streams[name][split]
            yield from scoring_windows(stream.tokens, self.block_size, self.val_stride, self.tokenizer.pad_id, self.tokenizer.bos_id)

    def batches(self, split: str):
        """Fixed windows over every document of `split` (all sources), each token after the first scored once."""
        return batched(self._windows(split), self.batch_size)

    def loss_metrics(self, loss: float, split: str) -> dict[str, float]:
        """Perplexity and bits per byte of `split` from its mean loss per scored token."""
        if split not in self._scored:
            self._scored[split] = sum(int((y >= 0).sum()) for _, y in self._windows(split))
        n_bytes = sum(streams[split].n_bytes for streams in self.streams.values() if split in streams)
        metrics = text_metrics(loss * self._scored[split], self._scored[split], n_bytes)
        return {"perplexity": metrics["perplexity"], "bits_per_byte": metrics["bits_per_byte"]}

    def evaluate(self, predictor, split: str) -> dict[str, float]:
        return {}  # no generation metric: the loss-based metrics above are the result

    def metric_names(self, split: str) -> tuple[str, ...]:
        return ("perplexity", "bits_per_byte")

    def sample_prompts(self, n: int = 8) -> list[str]:
        return self.prompts[:n]

    def generation_defaults(self) -> dict:
        return dict(self.defaults)

    def datasets(self) -> list[dict]:
        """Each corpus's splits: digest the corpus fingerprint, source its first file or URL, profile its size in documents,
        bytes and tokens (of this tokenizer)."""
        contexts = {"train": "training", "val": "validation", "heldout": "heldout"}
        out = []
        for name, corpus in self.sources.items():
            files = sorted(corpus.files)
            for split, stream in self.streams[name].items():
                documents = getattr(corpus, split)
                profile = {
                    "documents": len(documents),
                    "bytes": sum(len(d.encode("utf-8")) for d in documents),
                    "tokens": len(stream.tokens),
                    "tokenizer_sha256": self.tokenizer_sha256,
                    "corpus_sha256": corpus.fingerprint(),
                    "files": {Path(p).name if "://" not in p else p: corpus.files[p] for p in files},
                }
                source = files[0] if files else name
                out.append({"name": f"{name}/{split}", "digest": corpus.fingerprint(), "source": source, "context": contexts[split],
                            "profile": profile})  # fmt: skip
        return out

    def tags(self) -> dict[str, str]:
        """sha256 of every corpus file and of the tokenised text, so runs that saw the same data can be found."""
        tags = {"tokenizer.lossless": str(self.lossless).lower()}
        for name, corpus in self.sources.items():
            tags[f"corpus.{name}.sha256"] = corpus.fingerprint()
            for i, (path, sha) in enumerate(sorted(corpus.files.items())):
                tags[f"corpus.{name}.file{i}"] = f"{sha}  {Path(path).name if '://' not in path else path}"
        return tags
