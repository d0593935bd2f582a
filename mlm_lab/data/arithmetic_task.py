"""The arithmetic task: its splits, its answer-only loss mask and its exact-match evaluation.

The runner only calls the task interface (`data/task.py`);
everything arithmetic-specific lives here.
"""

import hashlib
import json
import random

import torch

from mlm_lab.data.arithmetic import Problem, generate_splits, sample_problem, splits_bytes, validate_spec
from mlm_lab.data.arithmetic_format import ArithmeticFormat
from mlm_lab.data.metrics import exact_match
from mlm_lab.data.task import MemoryNeed, cannot_encode
from mlm_lab.errors import require
from mlm_lab.targets import IGNORE_INDEX


class ArithmeticTask:
    """Arithmetic problems as `<bos>prompt answer<eos>`; only the answer tokens and `<eos>` are scored."""

    objective = "exact_match"  # the metric that says how good a run is
    objective_direction = "maximize"
    held_out_splits = ("test",)  # evaluated once after training
    dev_splits: tuple[str, ...] = ()  # nothing but val is scored during training

    def __init__(
        self,
        n_operands: int = 2,
        low: int = 0,
        high: int = 999,
        ops: str = "+",
        n_train: int = 100_000,
        n_val: int = 1_000,
        n_test: int = 2_000,
        pad_operands: bool = True,
        reverse_answer: bool = True,
        batch_size: int = 256,
        seed: int = 0,
        context_length: int | None = None,
    ):
        """
        Args:
            context_length: the model's longest sequence (model.context_length); problems too long for it are refused
                before the splits are generated. None: the runner checks after generating them.
        """
        validate_spec(n_operands, low, high, ops)
        for key, value in (("n_train", n_train), ("n_val", n_val), ("n_test", n_test), ("batch_size", batch_size)):
            require(value > 0, f"data.{key}", f"must be positive, got {value}", f"set data.{key} to a positive integer")
        self.spec = dict(n_operands=n_operands, low=low, high=high, ops=ops)
        self.sizes = {"test": n_test, "val": n_val, "train": n_train}
        self.context_length = context_length
        self.batch_size = batch_size
        self.seed = seed
        self.text_format = ArithmeticFormat(operand_width=len(str(high)) if pad_operands else 0, reverse_answer=reverse_answer)
        self.splits: dict[str, list[Problem]] = {}

    def setup(self, tokenizer) -> None:
        """Generate the splits and tokenise them into padded (inputs, targets) tensors."""
        self.tokenizer = tokenizer
        if self.context_length is not None and not tokenizer.needs_fit:
            self._require_context()
        self.splits = generate_splits(self.sizes, seed=self.seed, **self.spec)
        if tokenizer.needs_fit:  # a trainable tokenizer learns the model-format text of the training problems
            fmt = self.text_format
            tokenizer.fit([fmt.prompt_to_model(p.prompt) + fmt.answer_to_model(str(p.answer)) for p in self.splits["train"]])
        try:
            self.tensors = {name: self._tensorize(problems) for name, problems in self.splits.items()}
        except ValueError as e:
            raise cannot_encode(tokenizer, e) from None

    def _require_context(self) -> None:
        """One problem drawn aside and tokenised: if it is too long for the model, so is the longest of every split."""
        try:
            length = self._tensorize([sample_problem(random.Random(self.seed), **self.spec)])[0].shape[1]
        except ValueError as e:
            raise cannot_encode(self.tokenizer, e) from None
        n = self.spec["n_operands"]
        require(
            length <= self.context_length,
            "model.context_length",
            f"is {self.context_length} but a problem of {n} operands takes {length} tokens",
            f"set model.context_length={length} or more, or lower data.n_operands (or data.high)",
        )

    def _tensorize(self, problems: list[Problem]) -> tuple[torch.Tensor, torch.Tensor]:
        tok, fmt = self.tokenizer, self.text_format
        rows, prompt_lengths = [], []
        for p in problems:
            prompt = [tok.bos_id] + tok.encode(fmt.prompt_to_model(p.prompt))
            rows.append(prompt + tok.encode(fmt.answer_to_model(str(p.answer))) + [tok.eos_id])
            prompt_lengths.append(len(prompt))
        T = max(map(len, rows)) - 1
        x = torch.full((len(rows), T), tok.pad_id, dtype=torch.long)
        y = torch.full((len(rows), T), IGNORE_INDEX, dtype=torch.long)
        for i, (row, n_prompt) in enumerate(zip(rows, prompt_lengths)):
            x[i, : len(row) - 1] = torch.tensor(row[:-1])
            # target i is token i+1: score only the answer tokens and <eos>, never the prompt
            y[i, n_prompt - 1 : len(row) - 1] = torch.tensor(row[n_prompt:])
        return x, y

    @property
    def max_sequence_length(self) -> int:
        """Tokens the model must see at once: the longest input row."""
        return max(x.shape[1] for x, _ in self.tensors.values())

    @property
    def max_answer_tokens(self) -> int:
        """Generation budget that covers the longest answer plus `<eos>`."""
        return max(len(str(p.answer)) for problems in self.splits.values() for p in problems) + 1

    def train_batch(self, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = self.tensors["train"]
        idx = torch.randint(0, x.shape[0], (self.batch_size,), generator=generator)
        return x[idx], y[idx]

    @property
    def split_names(self) -> tuple[str, ...]:
        return tuple(self.tensors)

    def batches(self, split: str):
        x, y = self.tensors[split]
        for start in range(0, x.shape[0], self.batch_size):
            yield x[start : start + self.batch_size], y[start : start + self.batch_size]

    def loss_metrics(self, loss: float, split: str) -> dict[str, float]:
        return {}  # exact match, not the loss, says how good an arithmetic model is

    def state_dict(self) -> dict:
        """Batches come from the generator alone: nothing else to restore on resume."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass

    def train_stats(self) -> dict[str, float]:
        return {}

    def datasets(self) -> list[dict]:
        """Each split as generated: digest the sha256 of the generator's settings, the seed and the split; source the
        generator with its settings; profile the number of problems."""
        settings = {**self.spec, "sizes": self.sizes, "seed": self.seed}
        out = []
        for split, context in (("train", "training"), ("val", "validation"), ("test", "test")):
            digest = hashlib.sha256(json.dumps({**settings, "split": split}, sort_keys=True).encode()).hexdigest()
            profile = {"problems": len(self.splits[split]), **{k: str(v) for k, v in self.spec.items()}}
            out.append({"name": f"arithmetic/{split}", "digest": digest, "source": "mlm_lab.data.arithmetic", "settings": settings,
                        "context": context, "profile": profile})  # fmt: skip
        return out

    def tags(self) -> dict[str, str]:
        return {}  # the data is generated from the logged config and seed

    def memory_needs(self) -> tuple[MemoryNeed, ...]:
        """The splits' problems, which `setup` generates."""
        n, k = sum(self.sizes.values()), self.spec["n_operands"]
        problem = f"{n} problems of {k} operands need about {{need}} GiB, more than the {{have}} GiB here"
        return (MemoryNeed("data.n_operands", splits_bytes(n, k), problem, "lower data.n_operands, or data.n_train/n_val/n_test"),)

    def evaluate(self, predictor, split: str) -> dict[str, float]:
        """Exact match of greedy answers to the plain prompts of `split`, overall and by answer length."""
        problems = self.splits[split]
        predictions = predictor.complete([p.prompt for p in problems], max_new_tokens=self.max_answer_tokens, temperature=0.0)
        return exact_match(predictions, [str(p.answer) for p in problems])

    def metric_names(self, split: str) -> tuple[str, ...]:
        """exact_match, and exact_match_len{L} for each answer length L in the split."""
        return ("exact_match", *(f"exact_match_len{n}" for n in sorted({len(str(p.answer)) for p in self.splits[split]})))

    def sample_prompts(self, n: int = 8) -> list[str]:
        return [p.prompt for p in self.splits["test"][:n]]

    def generation_defaults(self) -> dict:
        """Defaults that the registered model uses when a caller passes no generation parameters."""
        return {"max_new_tokens": self.max_answer_tokens, "temperature": 0.0}
