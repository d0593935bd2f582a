"""Compare runs from the tracking store: a table of what varied and what it gave, and overlay plots.

The runs of a sweep (the children of its parent run) or of a whole experiment come from
`mlflow.search_runs`. The report is `comparison.md` and `comparison.csv` (one row per run: the
params that differ between runs, final metrics, wall time, tokens per second) plus PNGs: each
validation curve overlaid across runs, and the objective against every varied param.
"""

import functools
import logging
import math
from pathlib import Path

import pandas as pd

from mlm_lab.analysis.significance import ALPHA, MAX_SEEDS, POWER, Group, rank
from mlm_lab.reports import plots
from mlm_lab.tracking.runs import DIRECTION_TAG, OBJECTIVE_TAG, OVERRIDES_TAG, SEED, short

log = logging.getLogger(__name__)

OBJECTIVE = f"tags.{OBJECTIVE_TAG}"  # the columns mlflow.search_runs gives those tags
DIRECTION = f"tags.{DIRECTION_TAG}"
IGNORED_PARAMS = ("output_dir", "tracking.", "resume", "rerun")  # differ between runs without changing what was trained
SHOWN_METRICS = ("val/", "test/", "fresh/")  # final held-out metrics; per-length breakdowns (`_lenL`) stay in the runs


def dataset_filter(dataset: str | None) -> str:
    """The search filter of the runs that logged a dataset whose digest starts with `dataset` ("" for None)."""
    if not dataset:
        return ""
    from mlm_lab.errors import require
    from mlm_lab.tracking.datasets import DIGEST_CHARS

    digest = str(dataset).lower()
    ok = all(c in "0123456789abcdef" for c in digest)
    require(ok, "dataset", f"{dataset!r} is not a digest", "pass a dataset digest as the UI or mlm-compare shows it (hex digits)")
    return f"dataset.digest LIKE '{digest[:DIGEST_CHARS]}%'"


def search(
    tracking_uri: str, experiment: str | None = None, parent_run_id: str | None = None, max_runs: int = 1000, dataset: str | None = None
) -> pd.DataFrame:
    """The runs to compare: the children of `parent_run_id`, else every run of `experiment` but sweep parents; with
    `dataset`, only the runs that logged a dataset of that digest (or its first characters)."""
    import mlflow

    from mlm_lab.errors import ConfigError

    mlflow.set_tracking_uri(tracking_uri)
    if parent_run_id:
        try:
            experiment_id = mlflow.get_run(parent_run_id).info.experiment_id
        except mlflow.exceptions.MlflowException:
            raise ConfigError(
                f"sweep: run {parent_run_id} is not in the tracking store {tracking_uri}. Fix: pass a sweep's parent run id"
            ) from None
        where = " and ".join(filter(None, [f"tags.mlflow.parentRunId = '{parent_run_id}'", dataset_filter(dataset)]))
        runs = mlflow.search_runs([experiment_id], filter_string=where, max_results=max_runs)
    else:
        if mlflow.get_experiment_by_name(experiment) is None:
            names = sorted(e.name for e in mlflow.search_experiments())
            raise ConfigError(f"experiment: no experiment {experiment!r} in {tracking_uri} (it has {names}). Fix: experiment=NAME")
        runs = mlflow.search_runs(experiment_names=[experiment], filter_string=dataset_filter(dataset), max_results=max_runs)
        if "tags.mlm_lab.role" in runs:
            runs = runs[runs["tags.mlm_lab.role"] != "sweep"]
        if "tags.eval.model" in runs:  # mlm-eval's scoring runs share the model's experiment
            runs = runs[runs["tags.eval.model"].isna()]
    return runs.reset_index(drop=True)


def varied_params(runs: pd.DataFrame) -> list[str]:
    """Param columns whose value differs between runs (a param missing from some runs counts as differing).

    For a sweep's children, only the keys their overrides set: a value derived from them (`model.d_ff` from
    `model.d_model`) differs too, but is not what the sweep varied (it stays in each run's params).
    """
    swept = set()
    if f"tags.{OVERRIDES_TAG}" in runs:
        for overrides in runs[f"tags.{OVERRIDES_TAG}"].dropna():
            swept.update(o.split("=", 1)[0].lstrip("+~") for o in overrides.split() if "=" in o)
    swept |= {key for group in list(swept) for key in global_group_keys(group)}
    names = []
    for column in sorted(c for c in runs.columns if c.startswith("params.")):
        name = column.removeprefix("params.")
        if any(name == p or name.startswith(p) for p in IGNORED_PARAMS) or (swept and not is_swept(name, swept)):
            continue
        if runs[column].fillna("<unset>").nunique() > 1:
            names.append(name)
    return names


@functools.cache
def global_group_keys(group: str) -> frozenset[str]:
    """The keys the options of a `@package _global_` config group set: a sweep over `size=d48_l2,d64_l3` varies
    `model.d_model`, `model.n_layers`, ... (a group in its own package sets `<group>.*`, which is_swept already sees)."""
    from omegaconf import OmegaConf

    from mlm_lab.conf_path import conf_dir

    folder = conf_dir() / group
    if not group.replace("_", "").replace("-", "").isalnum() or not folder.is_dir():  # a group's name, not a path
        return frozenset()
    keys: set[str] = set()

    def leaves(node: dict, prefix: str) -> None:
        for key, value in node.items():
            if isinstance(value, dict):
                leaves(value, f"{prefix}{key}.")
            else:
                keys.add(f"{prefix}{key}")

    for file in sorted(folder.glob("*.yaml")):
        if "@package _global_" in file.read_text().split("\n", 1)[0]:
            options = OmegaConf.to_container(OmegaConf.load(file))
            leaves({k: v for k, v in (options or {}).items() if k not in ("defaults", "hydra")}, "")
    return frozenset(keys)


def is_swept(name: str, swept: set[str]) -> bool:
    """`model.d_model` is swept by `model.d_model=...`, and every `model.*` param by a group choice `model=llama`."""
    return name in swept or any(name.startswith(f"{key}.") for key in swept)


def objective(runs: pd.DataFrame) -> tuple[str | None, str]:
    """(metric, direction) the runs were optimised for, from their tags; (None, ...) when they disagree or lack it."""
    if OBJECTIVE not in runs or runs[OBJECTIVE].dropna().nunique() != 1:
        return None, "minimize"
    directions = runs[DIRECTION].dropna().unique() if DIRECTION in runs else []
    return runs[OBJECTIVE].dropna().iloc[0], directions[0] if len(directions) == 1 else "minimize"


def table(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per run: name, id, status, the varied params, final held-out metrics, wall time and tokens/s; best first."""
    metric, direction = objective(runs)
    metrics = sorted(
        c.removeprefix("metrics.")
        for c in runs.columns
        if c.startswith("metrics.") and c.removeprefix("metrics.").startswith(SHOWN_METRICS) and "_len" not in c
    )
    if metric in metrics:
        metrics.remove(metric)
        metrics.insert(0, metric)
    out = pd.DataFrame(
        {
            "run": runs.get("tags.mlflow.runName", runs["run_id"]),
            "run_id": runs["run_id"],
            "status": runs["status"],
        }
    )
    for name in varied_params(runs):
        out[name] = runs[f"params.{name}"]
    for name in metrics:
        out[name] = runs[f"metrics.{name}"]
    out["wall_s"] = (runs["end_time"] - runs["start_time"]).dt.total_seconds()
    tokens, minutes = runs.get("metrics.train/tokens"), runs.get("metrics.train/minutes")
    out["tokens_per_s"] = tokens / (minutes * 60.0) if tokens is not None and minutes is not None else float("nan")
    if metric in out:
        out = out.sort_values(metric, ascending=direction != "maximize", na_position="last")
    return out.reset_index(drop=True)


def markdown(frame: pd.DataFrame) -> str:
    """A GitHub Markdown table; floats to 4 significant digits, missing values as a dash."""

    def cell(value) -> str:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "-"
        if isinstance(value, float):
            return f"{value:.4g}"
        return short(str(value)).replace("|", "\\|")

    lines = ["| " + " | ".join(frame.columns) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def seed_groups(runs: pd.DataFrame, frame: pd.DataFrame) -> list[Group]:
    """The runs grouped by every varied param but the seed; [] unless some group has two seeds or more."""
    metric, _ = objective(runs)
    if metric is None or metric not in frame:
        return []
    shared = [name for name in varied_params(runs) if name != SEED]
    members: dict[str, list[tuple[float, str]]] = {}
    for _, row in frame.iterrows():
        key = ", ".join(f"{name}={short(str(row[name]))}" for name in shared) or "all runs"
        members.setdefault(key, []).append((float(row[metric]), row["run_id"]))
    groups = {k: Group(k, [v for v, _ in m], [r for _, r in m]) for k, m in members.items()}  # (non-finite values left out)
    return list(groups.values()) if any(g.n >= 2 for g in groups.values()) else []


def significance_section(groups: list[Group], metric: str, direction: str) -> str:
    """Markdown: each group's mean, spread and interval, and the best group against each other (Welch's t-test)."""
    ordered, comparisons = rank(groups, direction)
    versus = {id(c.group): c for c in comparisons}
    rows = []
    for g in ordered:
        low, high = g.ci95
        c = versus.get(id(g))
        rows.append(
            {
                "group": g.key,
                "n": g.n,
                "mean": g.mean,
                "std": g.std,
                "95% CI": "-" if math.isnan(low) else f"[{low:.4g}, {high:.4g}]",
                "best seed's run": g.best_run(direction) or "-",
                "vs best": c.difference if c else float("nan"),
                "p (Welch)": c.p_value if c else float("nan"),
                "significant": ("yes" if c.significant else "no") if c and not math.isnan(c.p_value) else "-",
                "seeds needed": (f"> {MAX_SEEDS}" if (c.seeds_needed or 0) > MAX_SEEDS else c.seeds_needed or "-") if c else "-",
            }
        )
    best = ordered[0]
    lines = [
        f"## Seeds and significance: {metric} ({direction})",
        "",
        f"Best config: **{best.key}**, mean {best.mean:.6g} over {best.n} seed(s). Groups differ only in their seed; the "
        f"95% interval is the mean's (t, n - 1); p is Welch's two-sided t-test against the best group; where a difference is "
        f"not significant at {ALPHA}, 'seeds needed' is how many seeds per group would find a difference of that size with "
        f"{POWER:.0%} power (the observed means and spreads taken as the truth).",
        "",
        markdown(pd.DataFrame(rows)),
    ]
    undecided = [c for c in comparisons if not c.significant and c.group.n >= 2 and best.n >= 2]
    if undecided:
        lines.append(
            "Not significantly worse than the best: "
            + "; ".join(f"{c.group.key} (p = {c.p_value:.3g}, {c.seeds_needed} seeds each to tell)" for c in undecided)
            + ".\n"
        )
    return "\n".join(lines)


def champion_lines(client, runs: pd.DataFrame) -> list[str]:
    """One line per model these runs registered: which version `champion` points at, its run and objective."""
    from mlm_lab.tracking import champion

    column = "params.tracking.register_as"
    names = sorted({n for n in runs.get(column, pd.Series(dtype=str)).dropna() if n and n != "None"})
    lines = []
    for name in names:
        best = champion.champion(client, name)
        if best is not None:
            value = best.tags.get(champion.VALUE_TAG, "?")
            ours = " (one of these runs)" if best.run_id in set(runs["run_id"]) else ""
            lines.append(
                f"Champion: `models:/{name}@{champion.CHAMPION}` is version {best.version}, run {best.run_id}{ours}, "
                f"{best.tags.get(champion.OBJECTIVE_TAG, 'objective')} = {value}"
            )
    return lines


AXES = {"steps": None, "tokens": "train/tokens", "flops": "train/flops", "minutes": "train/minutes"}


def on_axis(client, run_id: str, points: list[tuple[int, float]], axis: str) -> list[tuple[float, float]]:
    """`points` (step, value) with the step replaced by the run's `axis` metric at that step (its last point at or before it)."""
    metric = AXES[axis]
    if metric is None:
        return points
    history = sorted((m.step, m.value) for m in client.get_metric_history(run_id, metric))
    out = []
    for step, value in points:
        before = [x for s, x in history if s <= step]
        if before:
            out.append((before[-1], value))
    return out


def write(runs: pd.DataFrame, tracking_uri: str, output_dir: str | Path, title: str, axis: str = "steps") -> list[Path]:
    """comparison.md, comparison.csv and the plots under `output_dir`; returns the files written."""
    import mlflow

    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    frame = table(runs)
    metric, direction = objective(runs)
    header = f"# {title}\n\n{len(frame)} runs"
    if metric and metric in frame and frame[metric].notna().any():
        best = frame.iloc[0]
        header += f"; best {metric} ({direction}): {best[metric]:.6g}, run {best['run']} ({best['run_id']})"
    client = mlflow.MlflowClient(tracking_uri)
    header += "".join(f"\n\n{line}" for line in champion_lines(client, runs))
    groups = seed_groups(runs, frame)
    section = "\n" + significance_section(groups, metric, direction) if groups else ""
    (output_dir / "comparison.md").write_text(header + "\n\n" + markdown(frame) + section)
    frame.to_csv(output_dir / "comparison.csv", index=False)
    written = [output_dir / "comparison.md", output_dir / "comparison.csv"]

    names = dict(zip(frame["run_id"], frame["run"]))
    for curve in dict.fromkeys(m for m in ("val/loss", metric) if m):  # the loss and the objective, once each
        histories = {
            f"{names[r]}": on_axis(client, r, [(p.step, p.value) for p in client.get_metric_history(r, curve)], axis)
            for r in frame["run_id"]
        }
        if any(histories.values()):
            suffix = "" if axis == "steps" else f"_by_{axis}"
            file = output_dir / "plots" / f"{curve.replace('/', '_')}_curves{suffix}.png"
            written.append(plots.curves(histories, file, f"{curve} by run", xlabel=axis if axis != "steps" else "step"))
    if groups:
        ordered, _ = rank(groups, direction)
        bars = [(g.key, g.values, g.mean, *g.ci95) for g in ordered]
        file = output_dir / "plots" / f"{metric.replace('/', '_')}_by_group.png"
        written.append(plots.error_bars(bars, file, f"{metric}: mean and 95% interval over seeds", metric))
        histories = {g.key: [[(p.step, p.value) for p in client.get_metric_history(r, "val/loss")] for r in g.runs] for g in ordered}
        written.append(plots.grouped_curves(histories, output_dir / "plots" / "val_loss_by_group.png", "val/loss: each seed, and the mean"))
    if metric and metric in frame:
        for name in varied_params(runs):
            values: dict[str, list[float]] = {}
            for setting, value in zip(frame[name].fillna("<unset>"), frame[metric]):
                if not (isinstance(value, float) and math.isnan(value)):
                    values.setdefault(str(setting), []).append(float(value))
            if values:
                file = output_dir / "plots" / f"{metric.replace('/', '_')}_vs_{name}.png"
                written.append(plots.against(values, file, f"{metric} against {name}", name, metric))
    return written


def compare(
    tracking_uri: str,
    output_dir: str | Path,
    experiment: str | None = None,
    parent_run_id: str | None = None,
    max_runs: int = 1000,
    dataset: str | None = None,
    axis: str = "steps",
) -> list[Path]:
    """Write the report for a sweep (logged to its parent run too) or an experiment; returns the files."""
    import mlflow

    from mlm_lab.errors import require

    require(axis in AXES, "axis", f"is {axis!r}", f"choose one of {', '.join(AXES)}")
    runs = search(tracking_uri, experiment, parent_run_id, max_runs, dataset)
    if runs.empty:
        log.warning("no runs to compare in %s", parent_run_id or experiment)
        return []
    title = f"Sweep {parent_run_id}" if parent_run_id else f"Experiment {experiment}"
    written = write(runs, tracking_uri, output_dir, title, axis)
    if parent_run_id:
        client = mlflow.MlflowClient(tracking_uri)
        for path in written:
            sub = "comparison/plots" if path.parent.name == "plots" else "comparison"
            client.log_artifact(parent_run_id, str(path), sub)
    log.info("comparison of %d runs written to %s", len(runs), output_dir)
    return written


def latest_sweep(tracking_uri: str, experiment: str) -> str:
    """The parent run id of the newest sweep in `experiment`."""
    import mlflow

    from mlm_lab.errors import ConfigError

    mlflow.set_tracking_uri(tracking_uri)
    runs = mlflow.search_runs(
        experiment_names=[experiment], filter_string="tags.`mlm_lab.role` = 'sweep'", order_by=["attributes.start_time DESC"], max_results=1
    )
    if runs.empty:
        raise ConfigError(
            f"sweep=latest: experiment {experiment!r} has no sweep (run one with mlm-train -m). Fix: compare it with experiment= alone"
        )
    return str(runs["run_id"].iloc[0])
