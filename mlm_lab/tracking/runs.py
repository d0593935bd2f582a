"""The tags mlm_lab puts on sweep runs, and the queries over a sweep's child runs that sweeps and comparisons share."""

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


def best_child(client, parent_run_id: str):
    """The FINISHED child run with the best objective (by its own objective and direction tags), or None."""
    scored = [r for r in finished_children(client, parent_run_id) if r.data.tags.get(OBJECTIVE_TAG) in r.data.metrics]
    if not scored:
        return None
    sign = -1.0 if scored[0].data.tags.get(DIRECTION_TAG) == "maximize" else 1.0
    return min(scored, key=lambda r: sign * r.data.metrics[r.data.tags[OBJECTIVE_TAG]])


def short(value: str) -> str:
    """A float written with 4 significant digits (`0.0013915971` -> `0.001392`); anything else as it is (run names, tables)."""
    try:
        number = float(value)
    except ValueError:
        return value
    return value if number.is_integer() or len(value) <= 6 else f"{number:.4g}"
