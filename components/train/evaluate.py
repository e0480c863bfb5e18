"""Evaluate exactly one registered model version on the test split, beside the task's trivial baseline.

Tasks with extra fixed test sets made by another generator than training (restoration: camera-shake
blur, another JPEG setting, box-downsampled SR) are scored on those too, each beside its own trivial
baseline. The evaluation run records its datasets and links the model version it scored.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Sequence

import mlflow
import numpy as np
from mlflow import MlflowClient
from mlflow.entities import LoggedModelInput
from torch import nn

from components.config import Params, StorageConfig
from components.data.dataset import DatasetInfo
from components.data.shards import CorruptCounter, load_split
from components.storage.location import Location
from components.models import model_size, model_task
from components.tasks import Task, get_task
from components.tasks.base import Predictor
from components.track.datasets import split_dataset
from components.track.registry import ModelPointer, load_model, logged_model_id
from components.track.tracking import connect, run_tags
from components.train.inference import predict, predict_trivial, prediction_panel, score

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SplitScores:
    """A model and the trivial baseline scored on one test split."""
    metrics: dict[str, float]
    trivial_metrics: dict[str, float]
    plots: dict[str, list[dict[str, float]]]    # the model's tables (e.g. pr_curve) and trivial_<name> for the baseline
    predictions: list[np.ndarray]


@dataclass(frozen=True)
class EvaluationOutcome:
    task: str
    metrics: dict[str, float]                   # the model on the test split
    trivial_name: str
    trivial_metrics: dict[str, float]           # the task's trivial predictor on the same split
    plots: dict[str, list[dict[str, float]]]    # e.g. pr_curve for the model (and trivial_pr_curve)
    shifted: dict[str, dict[str, dict[str, float]]]   # extra test split -> {"model": metrics, "trivial": metrics}
    panel: np.ndarray                           # uint8 image: input | prediction | ground truth rows
    views: dict[str, np.ndarray]                # interpretability images (task.explain), e.g. filter_flow
    run_id: str
    skipped_samples: int
    model_size: dict[str, float]                # parameters and state-dict megabytes (models.registry.model_size)
    timings: dict[str, float]                   # seconds: loading, each scored split, views, MLflow logging


def score_split(model: nn.Module, task: Task, samples: Sequence[dict], trivial: Predictor, params: Params,
                info: DatasetInfo) -> SplitScores:
    """Predict and score one split with the model and with the trivial predictor."""
    predictions = predict(model, task, samples, params.evaluate.batch_size, progress=True)
    metrics, plots = score(task, predictions, samples, params.evaluate, info)
    trivial_metrics, trivial_plots = score(task, predict_trivial(trivial, samples), samples, params.evaluate, info)
    plots |= {f"trivial_{name}": rows for name, rows in trivial_plots.items()}
    return SplitScores(metrics, trivial_metrics, plots, predictions)


def evaluate_registered(pointer: ModelPointer, params: Params, shards_dir: Location) -> EvaluationOutcome:
    """Load `pointer`'s version, score it and the trivial baseline on 'test' (and any shifted test sets), log a run."""
    task = get_task(model_task(pointer.model))
    storage = params.storage
    info = DatasetInfo.read(shards_dir, storage)
    timings, tic = {}, time.perf_counter()
    counter = CorruptCounter()
    required = task.test_fields
    splits = [task.test_split] + [s for s in task.shifted_splits if s in info.split_sizes]
    samples = {split: load_split(shards_dir, split, counter=counter, required=required,
                                 optional=task.optional_fields, storage=storage) for split in splits}
    train = (load_split(shards_dir, "train", counter=counter, required=task.stored_fields,
                        optional=task.optional_fields, storage=storage)
             if task.trivial_uses_train else [])
    experiment_id = connect(params.tracking, params.root)
    model = load_model(pointer)
    trivial_name, trivial = task.fit_trivial(train)
    timings["load_s"] = time.perf_counter() - tic

    scores = {}
    for split in splits:
        tic = time.perf_counter()
        scores[split] = score_split(model, task, samples[split], trivial, params, info)
        timings[f"score_{split}_s"] = time.perf_counter() - tic
    test, test_samples = scores[task.test_split], samples[task.test_split]
    tic = time.perf_counter()
    panel = prediction_panel(task, test.predictions, test_samples, params.evaluate.panels)
    views, view_metrics = task.explain(model, test_samples[:params.evaluate.panels])
    metrics = test.metrics | view_metrics
    timings["explain_s"] = time.perf_counter() - tic

    tic = time.perf_counter()
    shifted = {split: {"model": scores[split].metrics, "trivial": scores[split].trivial_metrics} for split in splits[1:]}
    plots = test.plots | {f"{split}_{name}": rows for split in splits[1:] for name, rows in scores[split].plots.items()}
    run_id = log_evaluation(pointer, task, experiment_id, shards_dir, storage, info, metrics, test.trivial_metrics, shifted,
                            plots, panel, views, trivial_name, len(test_samples))
    timings["log_s"] = time.perf_counter() - tic
    log.info("%s v%s: %s | %s: %s", pointer.name, pointer.version, _brief(metrics, task), trivial_name,
             _brief(test.trivial_metrics, task))
    return EvaluationOutcome(task=task.name, metrics=metrics, trivial_name=trivial_name,
                             trivial_metrics=test.trivial_metrics, plots=plots, shifted=shifted, panel=panel,
                             views=views, run_id=run_id, skipped_samples=counter.count, model_size=model_size(model),
                             timings={k: round(v, 2) for k, v in timings.items()})


def log_evaluation(pointer: ModelPointer, task: Task, experiment_id: str, shards_dir: Location,
                   storage: StorageConfig, info: DatasetInfo,
                   metrics: dict[str, float], trivial_metrics: dict[str, float], shifted: dict[str, dict],
                   plots: dict[str, list[dict]], panel: np.ndarray, views: dict[str, np.ndarray],
                   trivial_name: str, num_samples: int) -> str:
    """One MLflow run for the evaluation, tagged like the model's train run and linked to the scored version
    (its metrics are logged against the version's logged model) -> run id."""
    model_id = logged_model_id(pointer)
    test_dataset = split_dataset(shards_dir, task.test_split, info.source, storage)
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"evaluate@{pointer.name}") as run:
        mlflow.set_tags({**run_tags("evaluate", pointer.model, pointer.name, task.name, info.source),
                         "model_version": pointer.version, "model_uri": pointer.uri, "train_run_id": pointer.run_id,
                         "trivial": trivial_name})
        mlflow.log_input(test_dataset, context="testing", model=LoggedModelInput(model_id))
        for split in shifted:
            mlflow.log_input(split_dataset(shards_dir, split, info.source, storage), context="testing")
        mlflow.log_params({"split": task.test_split, "num_samples": num_samples, "shifted_splits": ",".join(shifted)})
        mlflow.log_metrics({f"test/{k}": v for k, v in metrics.items()}, model_id=model_id, dataset=test_dataset)
        mlflow.log_metrics({f"trivial/{k}": v for k, v in trivial_metrics.items()})
        for split, result in shifted.items():
            mlflow.log_metrics({f"{split}/{k}": v for k, v in result["model"].items()}, model_id=model_id)
            mlflow.log_metrics({f"{split}/trivial_{k}": v for k, v in result["trivial"].items()})
        mlflow.log_image(panel, "test_panel.png")
        for name, image in views.items():
            mlflow.log_image(image, f"{name}.png")
        for name, rows in plots.items():
            mlflow.log_table({k: [r[k] for r in rows] for k in rows[0]}, f"{name}.json")
    MlflowClient().set_model_version_tag(pointer.name, pointer.version, "evaluation_run_id", run.info.run_id)
    return run.info.run_id


def _brief(metrics: dict[str, float], task) -> str:
    return ", ".join(f"{k}={metrics[k]:.3f}" for k, _ in task.headline if k in metrics)
