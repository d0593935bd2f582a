"""The training recipe, one technique at a time, at equal training minutes: what each of the frontier's changes buys here.

Each stage adds one change to the one before, from the presets' recipe before issue 16 (AdamW + cosine, pinned in
BASE: the presets have since moved to the winners) to the full set:
Muon -> WSD -> QK-norm -> ReLU² -> zero-init output projections with an untied zero-init head -> soft-capped
logits -> value embeddings -> residual scalars. Every run trains for the same minutes of training steps
(`trainer.max_minutes`, no step limit), at the preset's shape, for each seed; the table gives validation
bits per byte (mean and spread over seeds), the held-out check (`heldout/bits_per_byte`: text unlike the
validation chapters), training tokens/s, and the training minutes each stage took to reach the first stage's
final validation bits per byte (time to target; the evaluations, every `trainer.eval_every` steps, bound its
resolution). Runs go one after another (never two at once on a 2-core CPU); the tokenizer is trained once into
a shared cache, outside the timed minutes.

    python bench/recipe_ablation.py --experiments cervantes tinystories --minutes 5 --seeds 0 1
    python bench/recipe_ablation.py --experiments cervantes --minutes 1 --seeds 0 --stages adamw_cosine muon   # a smoke run

With `--workdir DIR`, every finished run is appended to DIR/results.jsonl and a rerun skips it: a long
ablation can be stopped and taken up again.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from text_e2e import LOCAL, require_corpora  # noqa: E402  (the corpora's locations, shared with the e2e bench)

# The recipe before issue 16, pinned here because the presets have moved on to its winners: the ablation starts from
# the same place whatever the preset file now says (bf16 for both shapes; the old TinyStories preset trained in fp32).
BASE = [
    "model=llama",
    "optimizer=adamw",
    "scheduler=cosine_warmup",
    "optimizer.lr=2e-3",
    "optimizer.weight_decay=0.1",
    "~optimizer.adamw_lr",
    "model.dropout=0.0",
    "hardware.precision=bf16",
]
STAGES = [  # (name, what it adds): each stage keeps every earlier stage's overrides, a later value for a key winning
    ("adamw_cosine", []),
    # AdamW's part keeps the presets' lr; no weight decay on Muon's matrices (modded-nanogpt's default)
    ("muon", ["optimizer=muon", "optimizer.lr=0.02", "optimizer.adamw_lr=2e-3", "optimizer.weight_decay=0.0"]),
    ("wsd", ["scheduler=wsd", "scheduler.warmup_steps=20"]),
    ("qk_norm", ["model.qk_norm=true"]),
    ("relu2", ["model.mlp=relu2"]),
    ("zero_init", ["model.zero_init_proj=true", "model.tie_embeddings=false", "model.zero_init_head=true"]),
    ("softcap", ["model.logit_softcap=15"]),
    ("value_embeddings", ["model.value_embeddings=true"]),
    ("residual_scalars", ["model.residual_scalars=true"]),
]


def overrides_up_to(stage: str) -> list[str]:
    """BASE and every stage's overrides up to `stage`, one per key (a group, a value or a `~deletion` of it), the last winning."""
    names = [name for name, _ in STAGES]
    merged: dict[str, str] = {}
    for override in BASE + [o for _, extra in STAGES[: names.index(stage) + 1] for o in extra]:
        key = override.split("=", 1)[0].lstrip("~")
        merged.pop(key, None)  # re-inserted last: a later override comes after what it replaces
        merged[key] = override
    return list(merged.values())


def run(experiment: str, stage: str, seed: int, minutes: float, workdir: Path, cache: Path, extra: list[str]) -> dict:
    from mlflow import MlflowClient

    uri = f"sqlite:///{workdir / 'mlflow.db'}"
    name = f"{stage}-s{seed}"
    budget = [f"trainer.max_minutes={minutes}", "trainer.max_steps=null", f"seed={seed}"]
    cmd = [sys.executable, "-m", "mlm_lab.apps.train", f"experiment={experiment}", *LOCAL[experiment], f"cache_dir={cache}"]
    cmd += [*budget, *overrides_up_to(stage), f"tracking.run_name={name}", "tracking.register_as=null", *extra]
    proc = subprocess.run(cmd, cwd=workdir, env={**os.environ, "MLFLOW_TRACKING_URI": uri}, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{experiment} {name} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    client = MlflowClient(uri)
    ids = [client.get_experiment_by_name(experiment).experiment_id]
    (found,) = client.search_runs(ids, f"attributes.run_name = '{name}'", order_by=["attributes.start_time DESC"], max_results=1)
    metrics = found.data.metrics
    history = {
        name: client.get_metric_history(found.info.run_id, name) for name in ("tokens_per_second", "train/minutes", "val/bits_per_byte")
    }
    tps = sorted(m.value for m in history["tokens_per_second"])
    minutes = {m.step: m.value for m in history["train/minutes"]}
    curve = sorted((m.step, m.value) for m in history["val/bits_per_byte"])
    return {
        "experiment": experiment,
        "stage": stage,
        "seed": seed,
        "val_bits_per_byte": metrics["val/bits_per_byte"],
        "heldout_bits_per_byte": metrics.get("heldout/bits_per_byte"),
        # (training minutes, val bits/byte) at each evaluation; the minutes of the nearest logged step at or before it
        "curve": [(max((v for k, v in minutes.items() if k <= step), default=0.0), bpb) for step, bpb in curve],
        "tokens_per_second": tps[len(tps) // 2] if tps else None,
        "steps": max((m.step for m in client.get_metric_history(found.info.run_id, "train/loss")), default=None),
        "run_id": found.info.run_id,
        "command": " ".join(["mlm-train", *cmd[3:]]),
    }


def table(results: list[dict]) -> str:
    """Markdown: one row per experiment and stage, mean and spread (max - min) over the seeds."""
    header = (
        "| experiment | stage | seeds | val bits/byte (mean, spread) | held-out bits/byte | tokens/s | minutes to the first stage's val |"
    )
    lines = [header, "|---|---|---|---|---|---|---|"]
    for experiment in dict.fromkeys(r["experiment"] for r in results):
        first = [r["val_bits_per_byte"] for r in results if r["experiment"] == experiment and r["stage"] == STAGES[0][0]]
        target = statistics.mean(first) if first else -1.0
        for stage, _ in STAGES:
            rows = [r for r in results if r["experiment"] == experiment and r["stage"] == stage]
            if not rows:
                continue
            val = [r["val_bits_per_byte"] for r in rows]
            ood = [r["heldout_bits_per_byte"] for r in rows if r["heldout_bits_per_byte"] is not None]
            tps = [r["tokens_per_second"] for r in rows if r["tokens_per_second"]]
            ood_text = f"{statistics.mean(ood):.3f} ({max(ood) - min(ood):.3f})" if ood else "-"
            reached = [next((m for m, bpb in r["curve"] if bpb <= target), None) for r in rows]
            when = f"{statistics.mean(reached):.2f}" if all(m is not None for m in reached) else "not reached"
            lines.append(
                f"| {experiment} | {stage} | {len(rows)} | {statistics.mean(val):.3f} ({max(val) - min(val):.3f}) | {ood_text} | "
                f"{statistics.median(tps):.0f} | {when} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--experiments", nargs="+", default=["cervantes", "tinystories"], choices=sorted(LOCAL))
    parser.add_argument("--minutes", type=float, default=5.0, help="training minutes per run (trainer.max_minutes)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--stages", nargs="+", default=[name for name, _ in STAGES], choices=[name for name, _ in STAGES])
    parser.add_argument("--workdir", type=Path, default=None, help="keep the tracking store and the cache here")
    parser.add_argument("overrides", nargs="*", help="extra Hydra overrides for every run")
    args = parser.parse_args()
    require_corpora(args.experiments)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench_recipe_"))
    workdir.mkdir(parents=True, exist_ok=True)
    cache = workdir / "cache"  # one tokenizer per experiment, trained by the first run
    log = workdir / "results.jsonl"  # one line per finished run: a rerun with the same --workdir skips those
    done = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    results = []
    for experiment in args.experiments:
        for stage in args.stages:
            for seed in args.seeds:
                key = (experiment, stage, seed, args.minutes, args.overrides)
                previous = [r for r in done if (r["experiment"], r["stage"], r["seed"], r["minutes"], r["overrides"]) == key]
                if previous:
                    results.append(previous[-1])
                    continue
                results.append(run(experiment, stage, seed, args.minutes, workdir, cache, args.overrides))
                results[-1] |= {"minutes": args.minutes, "overrides": args.overrides}
                with log.open("a") as f:
                    f.write(json.dumps(results[-1]) + "\n")
                print(json.dumps(results[-1]), flush=True)
    print(table(results))


if __name__ == "__main__":
    main()
