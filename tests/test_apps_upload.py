"""`mlm-upload`: sends what a journal holds and the store lacks, says what it sent; a missing journal exits 2."""

import json

import pytest
from mlflow import MlflowClient

from mlm_lab.apps.upload import app
from tests.conftest import compose_config, fresh_store


def upload(*overrides: str) -> dict[str, int]:
    return app(compose_config(list(overrides), "upload", "apps"))


def test_a_journal_is_sent_once_and_the_app_says_what_it_sent(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    uri = fresh_store(tmp_path)
    client = MlflowClient(uri)
    run_id = client.create_run(client.create_experiment("offline")).info.run_id
    journal = tmp_path / "tracking_journal.jsonl"
    points = [{"op": "metrics", "step": s, "timestamp": 1000 + s, "values": {"train/loss": 3.0 - s / 10}} for s in (5, 10, 15)]
    journal.write_text("".join(json.dumps(e) + "\n" for e in [{"op": "run", "run_id": run_id, "tracking_uri": uri}, *points]))
    sent = upload(f"journal={journal}")
    assert sent and capsys.readouterr().out.startswith("sent: ")
    history = sorted((m.step, m.value) for m in client.get_metric_history(run_id, "train/loss"))
    assert history == [(5, 2.5), (10, 2.0), (15, 1.5)]
    assert upload(f"journal={tmp_path}") == {}  # the run's folder names its journal too; nothing is sent twice
    assert capsys.readouterr().out.strip() == "sent: nothing (the store had every write)"


def test_a_missing_journal_exits_2_with_the_fix(tmp_path, caplog):
    with pytest.raises(SystemExit) as info:
        upload(f"journal={tmp_path / 'nope'}")
    assert info.value.code == 2 and "journal=" in caplog.text and "no such file. Fix:" in caplog.text
