"""A tracking-server outage leaves no hole: metrics are kept while MLflow is unreachable and logged, with their
steps and timestamps, once it is back (a server restart during a submitted job: tests/pipelines/test_cluster_submission)."""
from __future__ import annotations

import time

import requests
from mlflow import MlflowClient

from components.track.tracking import BufferedRunLogger
from tests.services import free_port


def test_metrics_kept_during_an_outage_are_logged_once_with_their_steps(tmp_path, monkeypatch):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    client = MlflowClient(uri)
    run_id = client.create_run(client.create_experiment("outage")).info.run_id
    logger = BufferedRunLogger(uri, run_id)
    real_log_batch, down = logger.client.log_batch, [True]

    def log_batch(*args, **kwargs):
        if down[0]:
            raise requests.ConnectionError("server away")
        return real_log_batch(*args, **kwargs)

    monkeypatch.setattr(logger.client, "log_batch", log_batch)
    monkeypatch.setattr(BufferedRunLogger, "BATCH", 7)                 # several batches per flush
    for step in range(1, 11):
        logger.log_metrics({"train/loss": 1.0 / step, "train/lr": 0.1}, step=step)
    logger.set_tag("resumed_from_step", 0)
    assert len(logger.pending["metrics"]) == 20 and logger.pending["tags"] == {"resumed_from_step": "0"}
    assert client.get_metric_history(run_id, "train/loss") == []

    # What a checkpoint carries survives a restart; a flush after the outage logs it all, once.
    logger = BufferedRunLogger(uri, run_id, logger.pending)
    down[0] = False
    assert logger.flush(force=True) and logger.pending == {"metrics": [], "tags": {}}
    history = client.get_metric_history(run_id, "train/loss")
    assert sorted((m.step, m.value) for m in history) == [(s, 1.0 / s) for s in range(1, 11)]
    assert client.get_run(run_id).data.tags["resumed_from_step"] == "0"
    assert logger.flush() and len(client.get_metric_history(run_id, "train/lr")) == 10


def test_an_unreachable_server_costs_training_no_time(tmp_path):
    logger = BufferedRunLogger(f"http://127.0.0.1:{free_port()}", "0" * 32)
    start = time.monotonic()
    for step in range(1, 51):
        logger.log_metrics({"train/loss": 0.5}, step=step)
    assert time.monotonic() - start < 5 and len(logger.pending["metrics"]) == 50
