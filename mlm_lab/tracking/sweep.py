"""A Hydra multirun as one parent MLflow run with one nested child run per job.

`SweepCallback` (listed under `hydra.callbacks` in conf/config.yaml) opens the parent in the launching
process before any job starts, and closes it with a summary when the sweep ends. The callback object
travels with every job (Hydra pickles it to joblib and submitit workers), so each job learns the
parent's id from it in `on_job_start`; nothing goes through MLflow's `MLFLOW_RUN_ID` variable, which
would override `parent_run_id` (MLflow issue 15713).

A sweep is identified by its experiment, the command's overrides and the sweeper's settings, unless
`tracking.sweep_id` names it. Relaunching the same command reopens the same parent, and a job whose
overrides match a FINISHED child of it is skipped (its logged objective is returned to the sweeper).
Two launches of one sweep at once share the parent and split its jobs: each job is claimed before it
starts (`claims.py`), and one another process holds is skipped; the last launch to end closes the parent.
The parent is found or created, and jobs are claimed, under the sqlite store's lock (`store.store_lock`).
"""

import atexit
import hashlib
import json
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from mlm_lab.errors import require
from mlm_lab.tracking import claims, store
from mlm_lab.tracking.params import source_tags
from mlm_lab.tracking.redact import redact_config, redact_overrides
from mlm_lab.tracking.runs import DIRECTION_TAG as DIRECTION_TAG  # re-exported: the runner tags its runs through this module
from mlm_lab.tracking.runs import OBJECTIVE_TAG, OVERRIDES_TAG, SWEEP_TAG, best_group, finished_children, short
from mlm_lab.tracking.tracker import Tracker

log = logging.getLogger(__name__)


@dataclass
class Sweep:
    """What a job needs to join its sweep: where the parent lives, what it is called, which keys it varies."""

    parent_run_id: str
    sweep_id: str
    tracking_uri: str
    varied: tuple[str, ...] = ()


_current: Sweep | None = None  # set in the job's process by SweepCallback.on_job_start
_claimed: tuple[str, claims.Claim] | None = None  # the running job's overrides key and this process's claim on it


def current() -> Sweep | None:
    """The sweep the running Hydra job belongs to, or None outside a tracked multirun."""
    return _current


def sweep_id(config: DictConfig) -> str:
    """`tracking.sweep_id`, else a digest of the experiment, the command's overrides and the sweeper settings.

    The number of trials and their batching are left out, so a search relaunched with more trials continues.
    """
    if config.tracking.get("sweep_id"):
        return str(config.tracking.sweep_id)
    sweeper = OmegaConf.to_container(config.hydra.sweeper, resolve=True, enum_to_str=True)
    key = {
        "experiment": config.tracking.experiment,
        "overrides": sorted(OmegaConf.to_container(config.hydra.overrides.task)),
        "sweeper": {k: v for k, v in sweeper.items() if k not in ("n_trials", "n_jobs")},
    }
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]


def varied_keys(config: DictConfig) -> tuple[str, ...]:
    """The keys the sweep varies: swept command-line overrides (`a=1,2`) and the sweeper's `params`."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides(list(config.hydra.overrides.task))
    keys = [o.key_or_group for o in parsed if o.is_sweep_override()]
    return tuple(dict.fromkeys(keys + list(config.hydra.sweeper.get("params") or {})))


def cpu_share() -> int | None:
    """CPU threads for one job of a parallel launcher: submitit's `cpus_per_task`, or the cores divided among
    the joblib jobs running at once; None (torch's default) outside one."""
    if not HydraConfig.initialized():
        return None
    launcher = HydraConfig.get().launcher
    target = str(launcher.get("_target_", ""))
    if "submitit" in target and launcher.get("cpus_per_task"):
        return int(launcher.cpus_per_task)
    if "joblib" not in target or HydraConfig.get().mode != RunMode.MULTIRUN:
        return None
    cores = os.cpu_count() or 1
    n_jobs = int(launcher.get("n_jobs") or -1)
    jobs = n_jobs if n_jobs > 0 else cores + 1 + n_jobs  # joblib: -1 = all cores
    return max(1, cores // jobs) if jobs > 1 else None


def sweep_tracker(config: DictConfig) -> Tracker:
    """The tracker `config.tracking` names, made from its fields (the parent run is opened before any job builds one)."""
    from mlm_lab.tracking.mlflow_tracker import MlflowTracker
    from mlm_lab.tracking.null_tracker import NullTracker

    fields = OmegaConf.to_container(config.tracking, resolve=True)
    target = fields.pop("_target_", None)
    kinds = {f"{kind.__module__}.{kind.__qualname__}": kind for kind in (MlflowTracker, NullTracker)}
    require(target in kinds, "tracking._target_", f"is {target!r}, not a tracker a sweep knows", "use tracking=mlflow or tracking=none")
    return kinds[target](**fields)


def require_grid_for_seeds(config: DictConfig) -> None:
    """`seeds=xN` repeats every config of a grid; under Optuna the seed would be one more sampled parameter."""
    chosen = config.hydra.runtime.choices.get("seeds")
    sweeper = str(config.hydra.sweeper.get("_target_", ""))
    if chosen not in (None, "null") and "optuna" in sweeper.lower():
        from mlm_lab.errors import ConfigError

        raise ConfigError(
            f"seeds={chosen} repeats every config of a grid sweep, but this sweep is an Optuna search, which would draw one "
            f"seed per trial instead of averaging over them. Fix: replace seeds={chosen} with trial_seeds={chosen[1:]} (each trial "
            "trains that many seeds and Optuna optimises their mean)"
        )


class SweepCallback(Callback):
    """Opens the parent run when a tracked multirun starts; summarises and closes it when it ends."""

    def __init__(self):
        self.sweep: Sweep | None = None
        self.closed = False

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        try:
            require_grid_for_seeds(config)
            tracker = sweep_tracker(config)
            if not tracker.keeps_runs:
                return  # tracking=none: nothing to nest
            tracker.check_reachable()
            self.sweep = open_parent(tracker, config)
        except Exception as e:  # Hydra only warns about a callback's exception: stop the sweep before any job runs
            log.error("the sweep's parent run could not be opened: %s: %s", type(e).__name__, e)
            raise SystemExit(2) from e
        atexit.register(self._abandoned)

    def on_job_start(self, config: DictConfig, **kwargs) -> None:
        global _current, _claimed
        _current, _claimed = self.sweep, None

    def on_job_end(self, config: DictConfig, job_return, **kwargs) -> None:
        global _current
        if _current is not None:
            release_claim(_current)
        _current = None

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        if self.sweep is None:
            return
        close_parent(self.sweep, config)
        self.closed = True

    def _abandoned(self) -> None:
        """At exit of a sweep that never reached its end (a job failed, Ctrl-C): the parent is FAILED, not left RUNNING
        (unless another launch of the sweep still runs jobs: it ends the parent)."""
        if self.sweep is None or self.closed:
            return
        import mlflow

        release_claim(self.sweep)
        client = mlflow.MlflowClient(self.sweep.tracking_uri)
        if still_running(client, self.sweep):
            return
        client.set_tag(
            self.sweep.parent_run_id, "error", "the sweep stopped before all its jobs ran; relaunch the same command to finish it"
        )
        client.set_terminated(self.sweep.parent_run_id, status="FAILED")


def open_parent(tracker, config: DictConfig) -> Sweep:
    """Create the sweep's parent run, or reopen it when this sweep was launched before."""
    import mlflow

    uri = tracker.resolved_uri
    with store.store_lock(uri):  # two launches of one sweep at once: one parent
        return find_or_create_parent(mlflow.MlflowClient(uri), uri, tracker.experiment, config)


def find_or_create_parent(client, uri: str, experiment_name: str, config: DictConfig) -> Sweep:
    sid = sweep_id(config)
    experiment = client.get_experiment_by_name(experiment_name)
    experiment_id = experiment.experiment_id if experiment else client.create_experiment(experiment_name)
    store.mark_model_training(client, client.get_experiment(experiment_id))
    found = client.search_runs(
        [experiment_id], filter_string=f"tags.`{SWEEP_TAG}` = '{sid}' and tags.`mlm_lab.role` = 'sweep'", max_results=1
    )
    overrides = redact_overrides(list(config.hydra.overrides.task))
    if found:
        run_id = found[0].info.run_id
        client.update_run(run_id, status="RUNNING")
        client.set_tag(run_id, "relaunched", "true")
        log.info("sweep %s: continuing parent run %s (finished jobs are skipped)", sid, run_id)
        return Sweep(run_id, sid, uri, varied_keys(config))
    run = client.create_run(
        experiment_id,
        run_name=f"sweep-{sid[:8]}",
        tags={
            SWEEP_TAG: sid,
            "mlm_lab.role": "sweep",
            **source_tags(sys.argv),
            "sweeper": str(config.hydra.sweeper.get("_target_", "")),
            "launcher": str(config.hydra.launcher.get("_target_", "")),
            "sweep_dir": str(config.hydra.sweep.dir),
        },
    )
    run_id = run.info.run_id
    raw = {k: v for k, v in OmegaConf.to_container(config, resolve=False, enum_to_str=True).items() if k != "hydra"}
    sweep_config = {
        "overrides": overrides,
        "sweeper": OmegaConf.to_container(config.hydra.sweeper, resolve=True, enum_to_str=True),
        "launcher": OmegaConf.to_container(config.hydra.launcher, resolve=True, enum_to_str=True),
        "config": redact_config(raw, raw),  # unresolved: jobs differ
    }
    client.log_dict(run_id, sweep_config, "sweep_config.yaml")
    client.log_text(run_id, "\n".join(overrides) + "\n", "overrides.txt")
    log.info("sweep %s: parent run %s in experiment %s", sid, run_id, experiment_name)
    return Sweep(run_id, sid, uri, varied_keys(config))


def close_parent(sweep: Sweep, config: DictConfig) -> None:
    """Summarise the children on the parent (best child, its objective, the comparison report) and end it FINISHED."""
    import mlflow

    from mlm_lab.tracking.comparison import compare

    client = mlflow.MlflowClient(sweep.tracking_uri)
    if still_running(client, sweep):
        return
    try:
        found = best_group(client, sweep.parent_run_id)  # the best config by its mean over seeds, and its best seed
        if found is not None:
            best, mean, seeds, shared = found
            objective = best.data.tags[OBJECTIVE_TAG]
            client.set_tag(sweep.parent_run_id, "best_run_id", best.info.run_id)
            client.set_tag(sweep.parent_run_id, "best_run_name", best.info.run_name)
            client.set_tag(sweep.parent_run_id, "best_overrides", best.data.tags.get(OVERRIDES_TAG, ""))
            client.set_tag(sweep.parent_run_id, "best_group", shared)
            client.set_tag(sweep.parent_run_id, "best_group_seeds", str(seeds))
            client.log_metric(sweep.parent_run_id, f"best/{objective}", mean)
            log.info(
                "sweep %s: best config %r, mean %s = %.6g over %d seed(s); its best run %s",
                sweep.sweep_id,
                shared,
                objective,
                mean,
                seeds,
                best.info.run_id,
            )
            alias_best_version(client, sweep, best)
        compare(sweep.tracking_uri, Path(str(config.hydra.sweep.dir)) / "comparison", parent_run_id=sweep.parent_run_id)
    except Exception as e:  # the jobs' runs are complete; a failed summary must not leave the parent RUNNING
        log.exception("sweep %s: the summary failed", sweep.sweep_id)
        client.set_tag(sweep.parent_run_id, "summary_error", f"{type(e).__name__}: {e}"[:5000])
    if "error" in client.get_run(sweep.parent_run_id).data.tags:  # from an earlier, interrupted launch of this sweep
        client.delete_tag(sweep.parent_run_id, "error")
    client.set_terminated(sweep.parent_run_id, status="FINISHED")


def alias_best_version(client, sweep: Sweep, best) -> None:
    """Point `sweep-<id>` at the best child's registered version; name it and the champion on the parent."""
    from mlm_lab.tracking import champion

    name = best.data.params.get("tracking.register_as")
    versions = champion.versions_of_run(client, name, best.info.run_id) if name and name != "None" else []
    if not versions:
        return
    version = str(max(int(v.version) for v in versions))
    alias = champion.alias_name(f"sweep-{sweep.sweep_id}")
    client.set_registered_model_alias(name, alias, version)
    crowned = champion.champion(client, name)
    client.set_tag(sweep.parent_run_id, "best_model", f"models:/{name}@{alias}")
    if crowned is not None:
        client.set_tag(sweep.parent_run_id, "champion", f"models:/{name}@{champion.CHAMPION} (version {crowned.version})")
    log.info("sweep %s: models:/%s@%s is version %s; the champion is version %s", sweep.sweep_id, name, alias, version,
             crowned.version if crowned else "none")  # fmt: skip


def finished_child(client, sweep: Sweep, overrides: str):
    """A FINISHED child of the sweep run with exactly these overrides, or None (compared here: overrides may hold quotes)."""
    return next((run for run in finished_children(client, sweep.parent_run_id) if run.data.tags.get(OVERRIDES_TAG) == overrides), None)


def overrides_key(overrides: list[str]) -> str:
    """A job's overrides as its child run records them: credentials redacted, sorted, space-separated."""
    return " ".join(sorted(redact_overrides(overrides)))


def child_tags(sweep: Sweep, overrides: list[str]) -> dict[str, str]:
    """Tags of a sweep's child run: the sweep, the job's own overrides, and a run name made of the varied values."""
    values = dict(o.split("=", 1) for o in redact_overrides(overrides) if "=" in o)
    shown = [f"{key.rsplit('.', 1)[-1].rsplit('/', 1)[-1]}={short(values[key])}" for key in sweep.varied if key in values]
    job = HydraConfig.get().job.num if HydraConfig.initialized() else 0
    tags = {
        SWEEP_TAG: sweep.sweep_id,
        OVERRIDES_TAG: overrides_key(overrides),
        "mlm_lab.job_num": str(job),
        "mlflow.runName": f"job{job} " + " ".join(shown) if shown else f"job{job}",
    }
    if _claimed is not None and _claimed[0] == tags[OVERRIDES_TAG]:
        tags[claims.TOKEN_TAG] = _claimed[1].token  # how another launch tells whether the claim's run still runs
    return tags


def finished_objective(sweep: Sweep, overrides: list[str]) -> float | None:
    """What the job returns without running: the objective of a FINISHED child of this sweep with these overrides,
    or NaN while another process holds the job's claim; None when this process has claimed the job and runs it."""
    global _claimed
    import mlflow

    client = mlflow.MlflowClient(sweep.tracking_uri)
    key = overrides_key(overrides)
    with store.store_lock(sweep.tracking_uri):  # look and claim as one step, for every launch of this sweep
        run = finished_child(client, sweep, key)
        objective = run.data.tags.get(OBJECTIVE_TAG) if run is not None else None
        if run is not None and objective in run.data.metrics:  # else: finished without its objective (an older run): train it again
            value = run.data.metrics[objective]
            done = f"run {run.info.run_id} of this sweep already finished it ({objective} = {value:.6g})"
            log.info("skipping %s: %s", " ".join(overrides), done)
            return value
        other = claims.holder(client, sweep.parent_run_id, key)
        if other is None:
            _claimed = (key, claims.take(client, sweep.parent_run_id, key))
            return None
    log.info("skipping %s: %s is running it for this sweep (another launch of the same command)", " ".join(overrides), other)
    return float("nan")


def release_claim(sweep: Sweep) -> None:
    """Drop this process's claim on its job once the job ended (its child run is the record; a failed job is free again)."""
    global _claimed
    if _claimed is None:
        return
    import mlflow

    key, claim = _claimed
    _claimed = None
    with store.store_lock(sweep.tracking_uri):
        claims.release(mlflow.MlflowClient(sweep.tracking_uri), sweep.parent_run_id, key, claim)


def still_running(client, sweep: Sweep) -> bool:
    """Another launch of this sweep still runs jobs: it, the last to end, summarises and ends the parent."""
    with store.store_lock(sweep.tracking_uri):
        running = claims.others(client, sweep.parent_run_id)
    if running:
        log.info("sweep %s: another launch still runs jobs (%s); it ends the parent run", sweep.sweep_id, ", ".join(map(str, running)))
    return bool(running)
