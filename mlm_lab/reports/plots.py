"""Per-run plots as PNG files: metric curves over steps, and a metric broken down by a label (bar chart).

Plain matplotlib on the Agg backend (no display needed); the tracker logs the files.
"""

import re
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter  # noqa: E402

BREAKDOWN = re.compile(r"^(?P<split>[^/]+)/(?P<name>.+)_len(?P<length>\d+)$")


def curves(
    histories: dict[str, list[tuple[float, float]]], path: str | Path, title: str, log_y: bool = False, xlabel: str = "step"
) -> Path:
    """One line per metric or run (step, or `xlabel`'s quantity, on x); series with no points are left out.

    Past a few lines (a sweep's runs) the legend moves beside the axes, and past ten the colours come
    from a 20-colour map, so every line stays readable and tellable apart.
    """
    lines = {name: points for name, points in histories.items() if points}
    many = len(lines) > 5
    fig, ax = plt.subplots(figsize=(11, 4.5) if many else (7, 4))
    colours = plt.get_cmap("tab20").colors if len(lines) > 10 else plt.get_cmap("tab10").colors
    for i, (name, points) in enumerate(lines.items()):
        steps, values = zip(*sorted(points))
        ax.plot(steps, values, marker="o" if len(points) < 30 else None, markersize=3, label=name, color=colours[i % len(colours)])
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    if log_y:
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    if many:
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    else:
        ax.legend()
    return _save(fig, path)


def by_length(metrics: dict[str, float]) -> dict[str, dict[int, float]]:
    """`split/name_lenL` metrics grouped as {"split/name": {L: value}} (e.g. exact match by answer length)."""
    groups: dict[str, dict[int, float]] = {}
    for key, value in metrics.items():
        m = BREAKDOWN.match(key)
        if m:
            groups.setdefault(f"{m['split']}/{m['name']}", {})[int(m["length"])] = value
    return groups


def bars(values: dict[int, float], path: str | Path, title: str, xlabel: str, ylabel: str) -> Path:
    """A bar per label, with its value written on top."""
    fig, ax = plt.subplots(figsize=(6, 4))
    labels = sorted(values)
    heights = [values[k] for k in labels]
    ax.bar([str(k) for k in labels], heights, color="#4c72b0")
    for i, h in enumerate(heights):
        ax.text(i, h, f"{h:.3f}", ha="center", va="bottom", fontsize=9)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.set_ylim(0, max(1.0, max(heights) * 1.1))
    return _save(fig, path)


def against(values: dict[str, list[float]], path: str | Path, title: str, xlabel: str, ylabel: str) -> Path:
    """A metric against one setting: one point per run (`values`: setting value -> metrics of the runs with it).

    Numeric settings go on a numeric axis (logarithmic when they span over 10x), others one category each.
    """
    fig, ax = plt.subplots(figsize=(6, 4))
    try:
        xs = {float(k): v for k, v in values.items()}
    except ValueError:
        xs = None
    if xs is not None:
        for x, ys in xs.items():
            ax.scatter([x] * len(ys), ys, color="#4c72b0")
        positive = [x for x in xs if x > 0]
        if len(positive) == len(xs) and max(positive) / min(positive) > 10:
            ax.set_xscale("log")
            ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))  # 1, 2, 5 per decade, written plainly
            ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
            ax.xaxis.set_minor_formatter(NullFormatter())
    else:
        labels = sorted(values)
        for i, label in enumerate(labels):
            ax.scatter([i] * len(values[label]), values[label], color="#4c72b0")
        ax.set_xticks(range(len(labels)), labels, rotation=20)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def error_bars(groups: list[tuple[str, list[float], float, float, float]], path: str | Path, title: str, ylabel: str) -> Path:
    """One column per group (label, seeds' values, mean, CI low, CI high): its mean with the 95% interval, and each seed."""
    fig, ax = plt.subplots(figsize=(max(6, 1.1 * len(groups)), 4.5))
    for i, (_, values, mean, low, high) in enumerate(groups):
        ax.scatter([i] * len(values), values, color="#4c72b0", alpha=0.35, s=14)
        has_ci = low == low and high == high  # nan-free: two seeds or more
        err = [[mean - low], [high - mean]] if has_ci else None
        ax.errorbar([i], [mean], yerr=err, fmt="o", color="#c44e52", capsize=6, markersize=6)
    ax.set_xticks(range(len(groups)), [g[0] for g in groups], rotation=30, ha="right", fontsize=8)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def grouped_curves(histories: dict[str, list[list[tuple[int, float]]]], path: str | Path, title: str) -> Path:
    """Per group (label -> each seed's points): every seed's curve faint, the mean over seeds at shared steps bold."""
    fig, ax = plt.subplots(figsize=(9, 4.5))
    colours = plt.get_cmap("tab10").colors
    for i, (label, seeds) in enumerate(histories.items()):
        colour = colours[i % len(colours)]
        by_step: dict[int, list[float]] = {}
        for points in seeds:
            if points:
                steps, values = zip(*sorted(points))
                ax.plot(steps, values, color=colour, alpha=0.25, linewidth=1)
                for step, value in points:
                    by_step.setdefault(step, []).append(value)
        shared = sorted(s for s, v in by_step.items() if len(v) == len(seeds))
        if shared:
            ax.plot(
                shared, [sum(by_step[s]) / len(by_step[s]) for s in shared], color=colour, linewidth=2, label=f"{label} (n={len(seeds)})"
            )
    ax.set_xlabel("step")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def isoflop(curves: dict, path: str | Path, title: str, ylabel: str) -> Path:
    """Per budget (label -> (runs' (N, loss), the fitted parabola's (N, loss) points, its minimum)): loss against N, log x."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    colours = plt.get_cmap("viridis")(np.linspace(0.1, 0.9, max(len(curves), 1)))
    for colour, (label, (runs, fitted, minimum)) in zip(colours, curves.items()):
        ax.scatter(*zip(*runs), color=colour, s=18, label=label)
        ax.plot(*zip(*fitted), color=colour, linewidth=1.2)
        ax.scatter([minimum[0]], [minimum[1]], color=colour, marker="*", s=140, edgecolors="black", zorder=3)
    ax.set_xscale("log")
    ax.set_xlabel("parameters N")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def frontier(optima: list[tuple[float, float, float]], result, path: str | Path) -> Path:
    """N_opt and D_opt against the budget C (log-log) with the fitted power laws."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    budgets = np.array([o[0] for o in optima])
    grid = np.logspace(np.log10(budgets.min()) - 0.3, np.log10(budgets.max()) + 0.3, 20)
    ax.scatter(budgets, [o[1] for o in optima], color="#4c72b0", label="N_opt (params)")
    ax.plot(grid, result.a_coefficient * grid**result.a, color="#4c72b0", label=f"N_opt ~ C^{result.a:.2f}")
    ax.scatter(budgets, [o[2] for o in optima], color="#c44e52", label="D_opt (tokens)")
    ax.plot(grid, result.b_coefficient * grid**result.b, color="#c44e52", label=f"D_opt ~ C^{result.b:.2f}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("training FLOPs C")
    ax.set_title("compute-optimal size and tokens")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    return _save(fig, path)


def _save(fig, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
