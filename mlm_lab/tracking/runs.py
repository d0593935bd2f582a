"""The tags mlm_lab puts on sweep runs, and the queries over a sweep's child runs that sweeps and comparisons share."""

import math

SWEEP_TAG = "mlm_lab.sweep_id"  # on the parent and on every child
OVERRIDES_TAG = "mlm_lab.job_overrides"  # on each child: its overrides, sorted, space-separated
OBJECTIVE_TAG = "mlm_lab.objective"  # on each child: the metric the sweep optimises (e.g. val/exact_match)
DIRECTION_TAG = "mlm_lab.objective_direction"  # maximize | minimize


def finished_children(client, parent_run_id: str) -> list:
    """The FINISHED child runs of a sweep's parent (`client` an MlflowClient)."""
    experiment_id = client.get_run(parent_run_id).info.experiment_id
    return client.search_runs(
        [experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent_run_id}' and attributes.status = 'FINISHED'", max_results=50000
    )


SEED = "seed"  # the override that makes runs of one config differ only by chance


def config_key(overrides: str) -> str:
    """A child's overrides without its seed: the config its seeds share."""
    return " ".join(o for o in overrides.split() if o.split("=", 1)[0].lstrip("+~") != SEED)


def best_group(client, parent_run_id: str):
    """(the best config's best seed's run, the config's mean objective, its number of seeds, its overrides), or None.

    The FINISHED children with a finite objective, grouped by their overrides without `seed=`, ranked by mean:
    with one seed per config, the best child run.
    """
    scored = [
        r for r in finished_children(client, parent_run_id) if math.isfinite(r.data.metrics.get(r.data.tags.get(OBJECTIVE_TAG), math.nan))
    ]
    if not scored:
        return None
    sign = -1.0 if scored[0].data.tags.get(DIRECTION_TAG) == "maximize" else 1.0

    def value(run) -> float:
        return sign * run.data.metrics[run.data.tags[OBJECTIVE_TAG]]

    groups: dict[str, list] = {}
    for run in scored:
        groups.setdefault(config_key(run.data.tags.get(OVERRIDES_TAG, "")), []).append(run)
    key, members = min(groups.items(), key=lambda kv: sum(map(value, kv[1])) / len(kv[1]))
    return min(members, key=value), sign * sum(map(value, members)) / len(members), len(members), key


def short(value: str) -> str:
    """A float written with 4 significant digits (`0.0013915971` -> `0.001392`); anything else as it is (run names, tables)."""
    try:
        number = float(value)
    except ValueError:
        return value
    return value if number.is_integer() or len(value) <= 6 else f"{number:.4g}"
