"""`mlm-compare scaling=true`: the isoFLOP fit of the runs in the store, as scaling.md and two plots.

Each run is a point: its FLOP budget (`trainer.max_flops`), its parameters (`model/num_parameters`),
the tokens it trained on (`train/tokens`) and its final objective (a loss: `val/loss` or
`val/bits_per_byte`). The fit is `analysis/scaling.py`'s; this module only reads runs and writes the report.
"""

import math
from pathlib import Path

import numpy as np
import pandas as pd

from mlm_lab.analysis.loss_law import BOOTSTRAP, fit_law
from mlm_lab.analysis.scaling import Point, ScalingFit, fit
from mlm_lab.errors import ConfigError
from mlm_lab.reports import plots

BUDGET = "params.trainer.max_flops"
PARAMS = "metrics.model/num_parameters"
TOKENS = "metrics.train/tokens"
CHINCHILLA = "Chinchilla (Hoffmann et al. 2022): a = 0.50, b = 0.50 (approach 2: 0.49 and 0.51)"


def points(runs: pd.DataFrame, metric: str) -> list[Point]:
    """The runs with a FLOP budget, their size, tokens and `metric`; refused by name when a column is missing."""
    column = f"metrics.{metric}"
    missing = [c for c in (BUDGET, PARAMS, TOKENS, column) if c not in runs]
    if missing:
        raise ConfigError(
            f"scaling: the runs lack {', '.join(missing)}. Fix: compare an isoFLOP sweep (hparams_search=isoflop_arithmetic or "
            "isoflop_tinystories: runs budgeted with trainer.max_flops), or name the loss with metric=val/loss"
        )
    budgeted = runs[runs[BUDGET].notna() & (runs[BUDGET] != "None")]
    return [
        Point(float(r[BUDGET]), float(r[PARAMS]), float(r[TOKENS]), float(r[column]), r["run_id"])
        for _, r in budgeted.iterrows()
        if not any(isinstance(v, float) and math.isnan(v) for v in (r[PARAMS], r[TOKENS], r[column]))
    ]


def law_section(found: list[Point], predict: float | None, bootstrap: int = BOOTSTRAP) -> list[str]:
    """Chinchilla's approach 3 on the same runs: L(N, D) = E + A/N^alpha + B/D^beta, or why it could not be fitted."""
    lines = ["", "## L(N, D) = E + A / N^alpha + B / D^beta (approach 3: every run at once, Huber loss in log L)", ""]
    try:
        law = fit_law(found, bootstrap)
    except ValueError as e:
        return lines + [f"Not fitted: {e}."]

    def interval(pair: tuple[float, float]) -> str:
        return f"[{pair[0]:.3f}, {pair[1]:.3f}]"

    lines += [
        f"E = {law.e:.4g}, A = {law.a_coefficient:.4g}, B = {law.b_coefficient:.4g}, "
        f"**alpha = {law.alpha:.3f}** {interval(law.alpha_interval)}, **beta = {law.beta:.3f}** {interval(law.beta_interval)} "
        f"(95% bootstrap intervals, {law.resamples} resamples).",
        f"The law misses the runs' losses by {100 * law.rms:.2g}% rms. It implies N_opt ~ C^{law.a:.3f} {interval(law.a_interval)} "
        f"and D_opt ~ C^{law.b:.3f}, with C = {law.k:.3g} N D (these runs' FLOPs per parameter per token).",
        "Published (Hoffmann et al. 2022, approach 3): alpha = 0.34, beta = 0.28, E = 1.69 nats, N_opt ~ C^0.46.",
    ]
    if predict:
        n, d = law.optimal(predict)
        lines.append(f"For {predict:.3g} FLOPs the law's optimum is N = {n:.4g} parameters, D = {d:.4g} tokens, loss {law.loss(n, d):.4g}.")
    return lines


def unfitted(found: list[Point], metric: str, reason: str, bootstrap: int = BOOTSTRAP) -> str:
    """The report when no law can be fitted: the runs by size and budget, each budget's best size, and why."""
    budgets = sorted({p.flops for p in found})
    sizes = sorted({p.params for p in found})
    value = {(p.params, p.flops): p.loss for p in found}
    lines = [
        f"# Scaling: {metric} over {len(found)} runs at {len(budgets)} FLOP budgets: no fit",
        "",
        f"No scaling law was fitted: {reason}.",
        "",
        "| params N | " + " | ".join(f"C = {c:.3g}" for c in budgets) + " |",
        "|---|" + "---|" * len(budgets),
    ]
    for n in sizes:
        cells = [f"{value[(n, c)]:.4g}" if (n, c) in value else "-" for c in budgets]
        lines.append(f"| {n:,.0f} | " + " | ".join(cells) + " |")
    for c in budgets:
        best = min((p for p in found if p.flops == c), key=lambda p: p.loss)
        lines.append(f"\nAt C = {c:.3g} the lowest {metric} is {best.loss:.4g}, at N = {best.params:,.0f} (run {best.run_id}).")
    return "\n".join(lines + law_section(found, None, bootstrap)) + "\n"


def markdown(result: ScalingFit, found: list[Point], metric: str, predict: float | None, bootstrap: int = BOOTSTRAP) -> str:
    lines = [
        f"# Scaling: {metric} over {len(found)} runs at {len(result.budgets)} FLOP budgets",
        "",
        "| budget C (FLOPs) | N_opt (params) | D_opt (tokens) | loss at the minimum | minimum inside the sampled sizes |",
        "|---|---|---|---|---|",
    ]
    for n_fit, d_fit in zip(result.n_parabolas, result.d_parabolas):
        inside = "yes" if n_fit.inside else "no (extrapolated)"
        lines.append(f"| {n_fit.budget:.3g} | {10**n_fit.x_opt:.4g} | {10**d_fit.x_opt:.4g} | {n_fit.loss_opt:.4g} | {inside} |")
    a_low, a_high = result.a_interval
    b_low, b_high = result.b_interval
    lines += [
        "",
        f"N_opt = {result.a_coefficient:.3g} x C^a with **a = {result.a:.3f}** (95% bootstrap interval [{a_low:.3f}, {a_high:.3f}])",
        f"D_opt = {result.b_coefficient:.3g} x C^b with **b = {result.b:.3f}** (95% bootstrap interval [{b_low:.3f}, {b_high:.3f}])",
        f"({result.resamples} bootstrap resamples fitted, {result.dropped} dropped: a budget's minimum fell outside its sizes.)",
        "",
        f"Published: {CHINCHILLA}. At this scale the embedding and the attention term are a large share of N and of",
        "the FLOPs, and the budgets span little: read the exponents as this setup's, not as a law.",
    ]
    lines += [f"\nNote: {note}." for note in result.notes]
    if predict:
        n, d = result.predict(predict)
        lines.append(
            f"\nFor a budget of {predict:.3g} FLOPs: N_opt = {n:.4g} parameters, D_opt = {d:.4g} tokens ({d / n:.3g} tokens per parameter)."
        )
    return "\n".join(lines + law_section(found, predict, bootstrap)) + "\n"


def write(runs: pd.DataFrame, metric: str, output_dir: str | Path, predict: float | None = None, bootstrap: int = BOOTSTRAP) -> list[Path]:
    """scaling.md, isoflop.png and frontier.png under `output_dir`; returns the files. `bootstrap`: each fit's resamples."""
    found = points(runs, metric)
    if not found:
        raise ConfigError(
            "scaling: none of these runs was budgeted in FLOPs (trainer.max_flops). Fix: run an isoFLOP sweep "
            "(hparams_search=isoflop_arithmetic or isoflop_tinystories) and compare it with sweep=<its parent run> or sweep=latest"
        )
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    runs_at = {c: sorted((p.params, p.loss) for p in found if p.flops == c) for c in sorted({p.flops for p in found})}  # (N, L)
    try:
        result = fit(found, bootstrap)
    except ValueError as e:  # what the runs show, and why no law was fitted to them
        (output_dir / "scaling.md").write_text(unfitted(found, metric, str(e), bootstrap))
        curves = {f"C = {c:.2g}": (pts, pts, min(pts, key=lambda p: p[1])) for c, pts in runs_at.items()}
        return [
            output_dir / "scaling.md",
            plots.isoflop(
                curves, output_dir / "isoflop.png", f"isoFLOP runs: {metric}, no parabola fits (stars: each budget's lowest)", metric
            ),
        ]
    (output_dir / "scaling.md").write_text(markdown(result, found, metric, predict, bootstrap))
    curves = {}
    for n_fit in result.n_parabolas:
        pts = runs_at[n_fit.budget]
        xs = np.linspace(math.log10(pts[0][0]), math.log10(pts[-1][0]), 50)
        a, b, c = n_fit.coefficients
        curves[f"C = {n_fit.budget:.2g}"] = (pts, [(10**x, a * x * x + b * x + c) for x in xs], (10**n_fit.x_opt, n_fit.loss_opt))
    written = [
        output_dir / "scaling.md",
        plots.isoflop(curves, output_dir / "isoflop.png", f"isoFLOP curves: {metric} (stars: the fitted minima)", metric),
    ]
    frontier = [(n.budget, 10**n.x_opt, 10**d.x_opt) for n, d in zip(result.n_parabolas, result.d_parabolas)]
    written.append(plots.frontier(frontier, result, output_dir / "frontier.png"))
    return written


def report(
    tracking_uri: str,
    output_dir: str | Path,
    experiment: str | None,
    parent_run_id: str | None,
    metric: str,
    predict: float | None,
    max_runs: int,
    bootstrap: int = BOOTSTRAP,
) -> list[Path]:
    """The scaling report of a sweep (logged to its parent run too) or an experiment's runs."""
    import mlflow

    from mlm_lab.tracking.comparison import search

    runs = search(tracking_uri, experiment, parent_run_id, max_runs)
    written = write(runs, metric, output_dir, predict, bootstrap)
    if parent_run_id:
        client = mlflow.MlflowClient(tracking_uri)
        for path in written:
            client.log_artifact(parent_run_id, str(path), "scaling")
    return written
