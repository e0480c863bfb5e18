"""MLflow connection: resolve the tracking store, fail fast when it is unreachable, pick the experiment.

Default store: SQLite at an absolute path inside the checkout (`<repo>/mlflow/mlflow.db`) with
artifacts beside it; MLflow refuses the plain `./mlruns` file store, and DVC experiments run in
temp copies, so the path is made absolute once here. A server URI (http[s]://) comes from
params `tracking.uri` or $MLFLOW_TRACKING_URI; its artifact store (e.g. S3) is the server's.
"""
from __future__ import annotations

import logging
import os
import urllib.error
import urllib.request
from pathlib import Path

import mlflow
from mlflow import MlflowClient

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
