"""Learning-rate schedules defined over the training budget, whatever it is counted in.

A schedule sets every param group's lr before each optimizer step from two numbers the trainer
passes: the step (warmup is counted in steps) and the fraction of the budget spent (steps,
tokens or minutes, see `training.budget`), so a run budgeted in minutes still decays to `min_lr`
at its end (`wsd` starts its cooldown at a fraction of that budget). `plateau` instead lowers the lr when `val/loss` stops improving.
"""

import inspect
import math

from mlm_lab.errors import require


def default_fix(schedule: str, key: str) -> str:
    """`set scheduler.KEY=<the default>` of the named schedule's builder below: a suggested value is its default."""
    param = inspect.signature(globals()[schedule]).parameters.get(key)
    if param is None:  # a value the builder itself passes (constant's min_lr_ratio), never the user's
        return f"remove scheduler.{key}"
    return f"set scheduler.{key}={'null' if param.default is None else param.default}"


class Schedule:
    """Linear warmup over `warmup_steps`, then `shape(q)` for q in [0, 1] over the rest of the budget."""

    def __init__(self, name: str, warmup_steps: int = 0, min_lr: float | None = None, min_lr_ratio: float = 0.0):
        require(warmup_steps >= 0, "scheduler.warmup_steps", f"must be >= 0, got {warmup_steps}", default_fix(name, "warmup_steps"))
        ratio_fix = default_fix(name, "min_lr_ratio")
        require(0.0 <= min_lr_ratio <= 1.0, "scheduler.min_lr_ratio", f"must be in [0, 1], got {min_lr_ratio}", ratio_fix)
        require(min_lr is None or min_lr >= 0, "scheduler.min_lr", f"must be >= 0 or null, got {min_lr}", default_fix(name, "min_lr"))
        self.name = name
        self.warmup_steps = warmup_steps
        self.min_lr = min_lr
        self.min_lr_ratio = min_lr_ratio
        self.warmup_end = 0.0  # budget fraction spent when warmup ended: decay runs over what is left
        self.optimizer = None

    def bind(self, optimizer) -> "Schedule":
        """Attach to `optimizer`; its groups' current lr become the peak lr."""
        self.optimizer = optimizer
        self.base_lrs = [group["lr"] for group in optimizer.param_groups]
        for base in self.base_lrs:
            require(
                self.min_lr is None or self.min_lr <= base,
                "scheduler.min_lr",
                f"is {self.min_lr}, above optimizer.lr {base}",
                "set scheduler.min_lr below optimizer.lr, or use scheduler.min_lr_ratio",
            )
        return self

    def shape(self, q: float) -> float:
        """Factor in [0, 1] of the peak lr after warmup, at fraction q of the decay."""
        return 1.0

    def floor(self, base: float) -> float:
        return self.min_lr if self.min_lr is not None else self.min_lr_ratio * base

    def factor(self, step: int, progress: float) -> float:
        if step <= self.warmup_steps:
            self.warmup_end = progress
            return step / self.warmup_steps
        return self.shape(min(1.0, max(0.0, (progress - self.warmup_end) / max(1e-12, 1.0 - self.warmup_end))))

    def after_warmup(self, base: float, f: float) -> float:
        """The lr for peak `base` at shape value `f`: from the peak down to the floor."""
        floor = self.floor(base)
        return floor + (base - floor) * f

    def update(self, step: int, progress: float) -> float:
        """Set the lr for optimizer step `step` (1-based) at budget fraction `progress`; returns the first group's lr."""
        f = self.factor(step, progress)
        for group, base in zip(self.optimizer.param_groups, self.base_lrs):
            group["lr"] = base * f if step <= self.warmup_steps else self.after_warmup(base, f)
        return self.optimizer.param_groups[0]["lr"]

    def observe(self, metrics: dict) -> None:
        """Called after each evaluation with its metrics (`val/loss`, ...); only `plateau` uses it."""

    def state_dict(self) -> dict:
        return {"base_lrs": list(self.base_lrs), "warmup_end": self.warmup_end}

    def load_state_dict(self, state: dict) -> None:
        self.base_lrs = list(state["base_lrs"])
        self.warmup_end = state["warmup_end"]


class _Linear(Schedule):
    def shape(self, q: float) -> float:
        return 1.0 - q


class _Cosine(Schedule):
    def shape(self, q: float) -> float:
        return 0.5 * (1.0 + math.cos(math.pi * q))


class WSD(Schedule):
    """Warmup, a stable peak, then a cooldown over the last `decay_fraction` of the budget (linear or 1-sqrt)."""

    def __init__(self, warmup_steps: int, decay_fraction: float, decay_shape: str, min_lr: float | None, min_lr_ratio: float):
        super().__init__("wsd", warmup_steps, min_lr, min_lr_ratio)
        fraction_fix = default_fix("wsd", "decay_fraction")
        require(0.0 < decay_fraction <= 1.0, "scheduler.decay_fraction", f"must be in (0, 1], got {decay_fraction}", fraction_fix)
        shapes = ("linear", "1-sqrt")
        require(decay_shape in shapes, "scheduler.decay_shape", f"unknown choice {decay_shape!r}", f"use one of {list(shapes)}")
        self.decay_fraction, self.decay_shape = decay_fraction, decay_shape

    def shape(self, q: float) -> float:
        r = max(0.0, q - (1.0 - self.decay_fraction)) / self.decay_fraction  # how far into the cooldown, 0 to 1
        return 1.0 - (r if self.decay_shape == "linear" else math.sqrt(r))


class Plateau(Schedule):
    """Warmup, then the peak lr times `factor` each time `monitor` fails to improve for more than `patience` evaluations."""

    def __init__(self, factor: float, patience: int, threshold: float, monitor: str, warmup_steps: int, min_lr: float | None):
        super().__init__("plateau", warmup_steps, min_lr, 0.0)
        require(0.0 < factor < 1.0, "scheduler.factor", f"must be in (0, 1), got {factor}", default_fix("plateau", "factor"))
        require(patience >= 0, "scheduler.patience", f"must be >= 0, got {patience}", default_fix("plateau", "patience"))
        require(threshold >= 0, "scheduler.threshold", f"must be >= 0, got {threshold}", default_fix("plateau", "threshold"))
        # evaluations report val/* metrics: anything else could never be found (which val/* exist, the task knows)
        problem = f"must name a validation metric (val/...), got {monitor!r}"
        require(monitor.startswith("val/") and monitor != "val/", "scheduler.monitor", problem, default_fix("plateau", "monitor"))
        self.reduce, self.patience, self.threshold, self.monitor = factor, patience, threshold, monitor
        self.scale, self.best, self.bad = 1.0, math.inf, 0

    def shape(self, q: float) -> float:
        return self.scale

    def after_warmup(self, base: float, f: float) -> float:
        return max(self.floor(base), base * f)  # reductions stop at min_lr

    def observe(self, metrics: dict) -> None:
        require(
            self.monitor in metrics,
            "scheduler.monitor",
            f"{self.monitor!r} is not among the evaluation's metrics {sorted(metrics)}",
            default_fix("plateau", "monitor"),
        )
        value = metrics[self.monitor]
        if value < self.best * (1.0 - self.threshold) if self.best > 0 else value < self.best:
            self.best, self.bad = value, 0
            return
        self.bad += 1
        if self.bad > self.patience:
            self.scale *= self.reduce
            self.bad = 0

    def state_dict(self) -> dict:
        return {**super().state_dict(), "scale": self.scale, "best": self.best, "bad": self.bad}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.scale, self.best, self.bad = state["scale"], state["best"], state["bad"]


def constant(warmup_steps: int = 0) -> Schedule:
    """Linear warmup over `warmup_steps`, then the optimizer's lr."""
    return Schedule("constant", warmup_steps, None, 1.0)


def linear(warmup_steps: int = 0, min_lr: float | None = None, min_lr_ratio: float = 0.0) -> Schedule:
    """Warmup, then a straight line down to `min_lr` (or `min_lr_ratio * lr`) at the end of the budget."""
    return _Linear("linear", warmup_steps, min_lr, min_lr_ratio)


def cosine(warmup_steps: int = 0, min_lr: float | None = None, min_lr_ratio: float = 0.0) -> Schedule:
    """Half a cosine from the optimizer's lr down to `min_lr` (or `min_lr_ratio * lr`) at the end of the budget."""
    return _Cosine("cosine", warmup_steps, min_lr, min_lr_ratio)


def cosine_warmup(warmup_steps: int = 20, min_lr: float | None = None, min_lr_ratio: float = 0.1) -> Schedule:
    """Linear warmup to the optimizer's lr, then cosine decay to `min_lr` (or `min_lr_ratio * lr`) at the end of the budget."""
    return _Cosine("cosine_warmup", warmup_steps, min_lr, min_lr_ratio)


def wsd(
    warmup_steps: int = 0,
    decay_fraction: float = 0.4,
    decay_shape: str = "linear",
    min_lr: float | None = None,
    min_lr_ratio: float = 0.0,
) -> WSD:
    """Warmup-stable-decay: warmup, the optimizer's lr, then down to `min_lr` (or `min_lr_ratio * lr`) over the budget's
    last `decay_fraction` (after warmup), linearly or as 1 - sqrt (modded-nanogpt, nanochat, MiniCPM)."""
    return WSD(warmup_steps, decay_fraction, decay_shape, min_lr, min_lr_ratio)


def plateau(
    factor: float = 0.5,
    patience: int = 2,
    threshold: float = 1e-4,
    monitor: str = "val/loss",
    warmup_steps: int = 0,
    min_lr: float | None = None,
) -> Plateau:
    """The lr times `factor` whenever `monitor` has not improved (relatively, by `threshold`) for `patience`+1 evaluations."""
    return Plateau(factor, patience, threshold, monitor, warmup_steps, min_lr)
