"""Evaluate exactly one registered model version on the test split, beside the task's trivial baseline."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import mlflow
import numpy as np
from mlflow import MlflowClient

from components.config import Params
from components.data.dataset import DatasetInfo
from components.data.shards import CorruptCounter, load_split
from components.models import model_task
from components.tasks import get_task
from components.track.registry import ModelPointer, load_model
from components.track.tracking import connect
from components.train.inference import predict, predict_trivial, prediction_panel, score

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvaluationOutcome:
    task: str
    metrics: dict[str, float]                   # the model on the test split
    trivial_name: str
    trivial_metrics: dict[str, float]           # the task's trivial predictor on the same split
    plots: dict[str, list[dict[str, float]]]    # e.g. pr_curve for the model (and trivial_pr_curve)
    panel: np.ndarray                           # uint8 image: input | prediction | ground truth rows
    views: dict[str, np.ndarray]                # interpretability images (task.explain), e.g. filter_flow
    run_id: str
    skipped_samples: int


def evaluate_registered(pointer: ModelPointer, params: Params, shards_dir: Path) -> EvaluationOutcome:
    """Load `pointer`'s version, score it and the trivial baseline on 'test', log an evaluation run."""
    task = get_task(model_task(pointer.model))
    info = DatasetInfo.read(shards_dir)
    counter = CorruptCounter()
    test = load_split(shards_dir, task.test_split, counter=counter, required=(task.input_field, *task.target_fields))
    train = load_split(shards_dir, "train", counter=counter, required=task.stored_fields) if task.trivial_uses_train else []
    experiment_id = connect(params.tracking, params.root)
    model = load_model(pointer)

    tic = time.perf_counter()
    predictions = predict(model, task, test, params.evaluate.batch_size, progress=True)
    metrics, plots = score(task, predictions, test, params.evaluate, info)
    seconds = time.perf_counter() - tic
    trivial_name, trivial = task.fit_trivial(train)
    trivial_metrics, trivial_plots = score(task, predict_trivial(trivial, test), test, params.evaluate, info)
    plots |= {f"trivial_{name}": rows for name, rows in trivial_plots.items()}
    panel = prediction_panel(task, predictions, test, params.evaluate.panels)
    views, view_metrics = task.explain(model, test[:params.evaluate.panels])
    metrics |= view_metrics

    with mlflow.start_run(experiment_id=experiment_id, run_name=f"evaluate@{pointer.name}") as run:
        mlflow.set_tags({"stage": "evaluate", "model": pointer.name, "model_version": pointer.version,
                         "model_uri": pointer.uri, "train_run_id": pointer.run_id, "trivial": trivial_name})
        mlflow.log_params({"split": task.test_split, "num_samples": len(test), "boundary_mode": params.evaluate.boundary_mode})
        mlflow.log_metrics({f"test/{k}": v for k, v in metrics.items()})
        mlflow.log_metrics({f"trivial/{k}": v for k, v in trivial_metrics.items()})
        mlflow.log_metric("test/seconds", seconds)
        mlflow.log_image(panel, "test_panel.png")
        for name, image in views.items():
            mlflow.log_image(image, f"{name}.png")
        for name, rows in plots.items():
            mlflow.log_table({k: [r[k] for r in rows] for k in rows[0]}, f"{name}.json")
    MlflowClient().set_model_version_tag(pointer.name, pointer.version, "evaluation_run_id", run.info.run_id)
    log.info("%s v%s: %s | %s: %s", pointer.name, pointer.version, _brief(metrics, task), trivial_name,
             _brief(trivial_metrics, task))
    return EvaluationOutcome(task=task.name, metrics=metrics, trivial_name=trivial_name, trivial_metrics=trivial_metrics,
                             plots=plots, panel=panel, views=views, run_id=run.info.run_id, skipped_samples=counter.count)


def _brief(metrics: dict[str, float], task) -> str:
    return ", ".join(f"{k}={metrics[k]:.3f}" for k, _ in task.headline if k in metrics)
