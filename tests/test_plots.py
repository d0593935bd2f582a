import matplotlib.image

from mlm_lab.reports.plots import against, bars, by_length, curves


def test_curves_and_bars_write_readable_pngs(tmp_path):
    path = curves({"train/loss": [(1, 2.0), (2, 1.5), (3, 1.2)], "val/loss": [(3, 1.3)], "empty": []}, tmp_path / "a" / "loss.png", "loss")
    image = matplotlib.image.imread(path)
    assert image.shape[0] > 100 and image.shape[1] > 100
    path = bars({2: 0.9, 3: 0.75, 4: 1.0}, tmp_path / "bars.png", "exact match", "answer length", "exact match")
    assert matplotlib.image.imread(path).shape[2] in (3, 4)


def test_breakdowns_are_grouped_by_split_and_metric():
    metrics = {"test/exact_match": 0.9, "test/exact_match_len2": 1.0, "test/exact_match_len10": 0.5, "val/loss": 1.0, "x/y_len3": 0.1}
    assert by_length(metrics) == {"test/exact_match": {2: 1.0, 10: 0.5}, "x/y": {3: 0.1}}


def test_sweep_plots_widen_for_many_runs_and_take_any_setting(tmp_path):
    few = matplotlib.image.imread(curves({f"run{i}": [(1, 1.0 - i / 10)] for i in range(3)}, tmp_path / "few.png", "val/loss"))
    many = matplotlib.image.imread(curves({f"run{i}": [(1, 1.0 - i / 20)] for i in range(12)}, tmp_path / "many.png", "val/loss"))
    assert many.shape[1] > few.shape[1]  # room for the legend beside the axes
    numeric = against({"0.0005": [0.1], "0.001": [0.9, 0.8], "0.008": [0.0]}, tmp_path / "lr.png", "t", "optimizer.lr", "acc")
    named = against({"gpt2": [0.5], "llama": [0.7]}, tmp_path / "model.png", "t", "model._target_", "acc")
    assert matplotlib.image.imread(numeric).shape[0] > 100 and matplotlib.image.imread(named).shape[0] > 100
