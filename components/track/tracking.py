"""MLflow connection: resolve the tracking store, fail fast when it is unreachable, pick the experiment.

Default store: SQLite at an absolute path inside the checkout (`<repo>/mlflow/mlflow.db`) with
artifacts beside it; MLflow refuses the plain `./mlruns` file store, and DVC experiments run in
temp copies, so the path is made absolute once here. A server URI (http[s]://) comes from
params `tracking.uri` or $MLFLOW_TRACKING_URI; its artifact store (e.g. S3) is the server's.
"""
from __future__ import annotations

import logging
import os
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import mlflow
import requests
from mlflow import MlflowClient
from mlflow.entities import Metric, RunTag

from components.config import TrackingConfig
from components.errors import PixelpredError

log = logging.getLogger(__name__)

# MLflow 3's UI picks its layout per experiment from this tag; without it, an experiment with few runs may be
# shown as a GenAI one (traces, prompts) instead of the model-training view (runs, metrics, models).
EXPERIMENT_KIND_TAG, EXPERIMENT_KIND = "mlflow.experimentKind", "custom_model_development"


def resolve_tracking_uri(config: TrackingConfig, root: Path) -> str:
    """params -> $MLFLOW_TRACKING_URI -> sqlite:///<root>/mlflow/mlflow.db (absolute)."""
    uri = config.uri or os.environ.get("MLFLOW_TRACKING_URI", "")
    if not uri:
        uri = f"sqlite:///{(root / 'mlflow' / 'mlflow.db').resolve()}"
    return uri


def default_artifact_location(config: TrackingConfig, uri: str) -> str | None:
    """Artifacts beside a SQLite store; a server decides its own unless params say otherwise."""
    if config.artifact_root:
        return config.artifact_root
    if uri.startswith("sqlite:///"):
        return (Path(uri.removeprefix("sqlite:///")).parent / "artifacts").resolve().as_uri()
    return None


def check_reachable(uri: str, timeout_s: float = 5.0) -> None:
    """Raise PixelpredError with one clear line unless the tracking store answers."""
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        return
    if uri.startswith(("http://", "https://")):
        try:
            with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=timeout_s) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError) as err:
            raise PixelpredError(f"MLflow tracking server unreachable at {uri} ({getattr(err, 'reason', err)})") from None
        raise PixelpredError(f"MLflow tracking server at {uri} is not healthy")
    raise PixelpredError(f"unsupported MLflow tracking URI '{uri}' (use sqlite:///ABSOLUTE/PATH or http(s)://HOST)")


def connect(config: TrackingConfig, root: Path) -> str:
    """Point MLflow at the configured store and return the experiment id (created if missing)."""
    uri = resolve_tracking_uri(config, root)
    check_reachable(uri)
    mlflow.set_tracking_uri(uri)
    experiment = mlflow.get_experiment_by_name(config.experiment)
    if experiment is None:
        return mlflow.create_experiment(config.experiment, artifact_location=default_artifact_location(config, uri),
                                        tags={EXPERIMENT_KIND_TAG: EXPERIMENT_KIND})
    if experiment.tags.get(EXPERIMENT_KIND_TAG) != EXPERIMENT_KIND:     # a store made before the tag existed
        MlflowClient().set_experiment_tag(experiment.experiment_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND)
    return experiment.experiment_id


def run_tags(stage: str, model: str, registered_name: str, task: str, dataset: str) -> dict[str, str]:
    """Tags shared by a model's train and evaluate runs: the UI groups runs by `registered_model`."""
    return {"stage": stage, "model": model, "registered_model": registered_name, "task": task, "dataset": dataset}


TRACKING_ERRORS = (mlflow.exceptions.MlflowException, requests.RequestException, OSError)
# One quick attempt per call while the server may be away: MLflow's defaults (7 retries with exponential backoff,
# 120 s timeouts) would stall training for minutes at every logging step of an outage.
FAIL_FAST_REQUESTS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "10"}


@contextmanager
def fail_fast_requests() -> Iterator[None]:
    """MLflow's HTTP client, within the block: one attempt per request, a 10 s timeout."""
    saved = {key: os.environ.get(key) for key in FAIL_FAST_REQUESTS}
    os.environ.update(FAIL_FAST_REQUESTS)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class BufferedRunLogger:
    """Metrics and tags for one MLflow run that survive a tracking-server outage.

    What cannot be logged now is kept, with its step and original timestamp, and logged once the server answers
    again (tried at most every RETRY_EVERY_S), so an outage delays the run's history but leaves no hole. What is
    still pending goes into each checkpoint and, at the end of training, back to the driver (`pending`). Images
    are not kept: one that cannot be logged is counted in the run's `skipped_images` tag.
    """

    RETRY_EVERY_S = 5.0
    BATCH = 1000           # MLflow's limit of metrics per log_batch

    def __init__(self, tracking_uri: str, run_id: str, pending: dict | None = None) -> None:
        self.client = MlflowClient(tracking_uri)
        self.tracking_uri, self.run_id = tracking_uri, run_id
        self.metrics: list[list] = list((pending or {}).get("metrics", []))     # [key, value, timestamp ms, step]
        self.tags: dict[str, str] = dict((pending or {}).get("tags", {}))
        self.skipped_images = int(self.tags.get("skipped_images", 0))
        self._retry_at = 0.0          # > 0 while the server is unreachable

    @property
    def pending(self) -> dict:
        return {"metrics": list(self.metrics), "tags": dict(self.tags)}

    def log_metrics(self, values: dict[str, float], step: int) -> None:
        now = int(time.time() * 1000)
        self.metrics += [[key, float(value), now, step] for key, value in values.items()]
        self.flush()

    def set_tag(self, key: str, value: object) -> None:
        self.tags[key] = str(value)
        self.flush()

    def log_image(self, image, key: str, step: int) -> None:
        if not self._retry_at:
            try:
                with fail_fast_requests():
                    self.client.log_image(self.run_id, image, key=key, step=step)
                return
            except TRACKING_ERRORS as err:
                self._unreachable(err)
        self.skipped_images += 1
        self.set_tag("skipped_images", self.skipped_images)

    def flush(self, force: bool = False) -> bool:
        """Log everything pending -> whether nothing is left (False while the server is unreachable)."""
        if not (self.metrics or self.tags):
            return True
        if self._retry_at and not force and time.monotonic() < self._retry_at:
            return False
        try:
            with fail_fast_requests():
                while self.metrics or self.tags:
                    chunk = self.metrics[:self.BATCH]
                    self.client.log_batch(self.run_id, metrics=[Metric(*m) for m in chunk],
                                          tags=[RunTag(k, v) for k, v in self.tags.items()])
                    del self.metrics[:len(chunk)]     # a later chunk failing never re-logs this one
                    self.tags = {}
        except TRACKING_ERRORS as err:
            self._unreachable(err)
            return False
        if self._retry_at:
            log.info("MLflow at %s answers again: the metrics kept during the outage are logged", self.tracking_uri)
            self._retry_at = 0.0
        return True

    def _unreachable(self, err: Exception) -> None:
        if not self._retry_at:
            log.warning("MLflow at %s unreachable (%s): keeping metrics until it answers, training goes on",
                        self.tracking_uri, str(err).splitlines()[0][:200])
        self._retry_at = time.monotonic() + self.RETRY_EVERY_S
