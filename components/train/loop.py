"""The Ray Train worker loop, generic over models: one flat loop in nanoGPT's shape.

Each rank streams its own shard sample (resampled WebDataset, per-rank seed); rank 0 alone
talks to MLflow (params were logged by the driver; here: per-step metrics, system metrics,
validation metrics and prediction panels), through a logger that keeps metrics while the server
is unreachable and logs them when it is back. Every rank calls `ray.train.report` at the same
steps (a mismatch hangs Ray); rank 0 attaches the checkpoint, with any metrics still unlogged.
After a worker failure Ray restarts the group and `get_checkpoint()` resumes where it stopped.
"""
from __future__ import annotations

import itertools
import logging
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import mlflow
import numpy as np
import ray.train
import ray.train.torch
import torch

from components.config import EvaluateConfig, LossConfig, ModelConfig, OptimConfig, StorageConfig
from components.data.shards import CorruptCounter, iterate_samples, load_split
from components.data.transforms import collate
from components.models import create_model
from components.tasks import DatasetInfo, Task, get_task
from components.track.tracking import TRACKING_ERRORS, BufferedRunLogger, fail_fast_requests
from components.train.inference import predict, prediction_panel, score

log = logging.getLogger(__name__)

CHECKPOINT_FILE = "state.pt"
SYSTEM_METRICS_INTERVAL_S = 2      # MLflow's 10 s default misses most of a short CPU run


@dataclass(frozen=True)
class TrainJob:
    """Everything a worker needs; built and validated by the driver."""
    model_name: str
    task: str
    model: ModelConfig
    info: DatasetInfo
    train_shards: tuple[str, ...]
    val_dir: str                       # shards directory (or s3:// prefix) holding the 'val' split
    storage: StorageConfig             # how s3:// shards are reached
    tracking_uri: str
    run_id: str
    evaluate: EvaluateConfig
    system_metrics: bool = True
    inject_failure_at_step: int = 0    # tests: rank 0 dies once at this step (0 = never)


def build_optimizer(model: torch.nn.Module, config: OptimConfig) -> torch.optim.Optimizer:
    if config.name == "adam":
        return torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)


def learning_rate(config: OptimConfig, step: int, total: int) -> float:
    """'poly' schedule lr * (1 - step/total)^power (§2.1), or constant."""
    if config.schedule == "poly":
        return config.lr * (1.0 - step / total) ** config.poly_power
    return config.lr


def train_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, task: Task, batch: dict[str, torch.Tensor],
               loss: LossConfig, lr: float, grad_clip: float = 0.0) -> dict[str, float] | None:
    """One optimisation step at learning rate `lr` -> the loss parts for logging, or None (and no
    update) when the loss is not finite on any rank."""
    for group in optimizer.param_groups:
        group["lr"] = lr
    value, parts = task.loss(model(batch["image"]), batch, loss)
    if not finite_on_all_ranks(value):
        return None
    optimizer.zero_grad(set_to_none=True)
    value.backward()
    if grad_clip:
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    return parts


def finite_on_all_ranks(value: torch.Tensor) -> bool:
    """Whether `value` is finite on every rank, so that all ranks stop at the same step."""
    finite = torch.isfinite(value.detach()).float()
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.all_reduce(finite, op=torch.distributed.ReduceOp.MIN)
    return bool(finite.item())


def batches(job: TrainJob, seed: int) -> Iterator[dict[str, torch.Tensor]]:
    """Infinite stream of collated training batches for this rank."""
    rng = np.random.default_rng(seed)
    task = get_task(job.task)
    stream = iter(iterate_samples(list(job.train_shards), shuffle_buffer=64, seed=seed, resampled=True,
                                  counter=CorruptCounter(), required=task.stored_fields,
                                  optional=task.optional_fields, storage=job.storage))
    while True:
        samples = [task.example(s, rng, job.model, augment=True)
                   for s in itertools.islice(stream, job.model.train.batch_size)]
        yield collate(samples, task.target_fields, task.input_field)


def validation_examples(job: TrainJob, task: Task) -> list[dict]:
    """The val split as the model sees it, the same at every validation (each example seeded by its index)."""
    samples = load_split(job.val_dir, "val", required=task.stored_fields, optional=task.optional_fields,
                         storage=job.storage)
    return [task.example(s, np.random.default_rng(i), job.model, augment=False) for i, s in enumerate(samples)]


def train_loop_per_worker(config: dict) -> dict:
    job: TrainJob = config["job"]
    train, task = job.model.train, get_task(job.task)
    context = ray.train.get_context()
    rank, world = context.get_world_rank(), context.get_world_size()
    torch.manual_seed(train.seed)            # identical initial weights on every rank
    torch.set_num_threads(max(1, int(os.environ.get("OMP_NUM_THREADS", "1"))))

    model = create_model(job.model_name, job.model.backbone, **task.model_kwargs(job.info))
    optimizer = build_optimizer(model, train.optim)
    step, unlogged = 0, None
    restored = ray.train.get_checkpoint()
    if restored:
        with restored.as_directory() as directory:
            state = torch.load(Path(directory) / CHECKPOINT_FILE, map_location="cpu", weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        step, unlogged = state["step"], state.get("unlogged")
    model = ray.train.torch.prepare_model(model)
    device = ray.train.torch.get_device()
    stream = batches(job, seed=train.seed * 1000 + rank * 100 + step)

    is_logger = rank == 0
    val_samples = validation_examples(job, task) if is_logger else []
    tracker = BufferedRunLogger(job.tracking_uri, job.run_id, unlogged) if is_logger else None
    if is_logger:
        start_system_metrics(job)
        tracker.set_tag("resumed_from_step", step)

    window: list[float] = []
    diverged_at = 0
    tic = time.perf_counter()
    while step < train.steps:
        lr = learning_rate(train.optim, step, train.steps)
        batch = {k: v.to(device) for k, v in next(stream).items()}
        parts = train_step(model, optimizer, task, batch, job.model.loss, lr, train.grad_clip)
        if parts is None:
            # Divergence is deterministic: Ray's retry from the last checkpoint would only diverge
            # again, so every rank stops here (same step, reports stay matched) and the driver fails the run.
            log.error("loss is not finite at step %d: training diverged", step + 1)
            diverged_at = step + 1
            break
        step += 1
        window.append(parts["loss"])

        if job.inject_failure_at_step == step and restored is None and is_logger:
            log.warning("injected failure: rank 0 exits at step %d", step)
            os._exit(1)
        if is_logger and step % train.log_every == 0:
            elapsed = time.perf_counter() - tic
            tracker.log_metrics({"train/loss": float(np.mean(window)), "train/lr": lr,
                                 "train/samples_per_s": len(window) * train.batch_size * world / elapsed}, step=step)
            window, tic = [], time.perf_counter()
        if step % train.checkpoint_every == 0 or step == train.steps:
            metrics = {"step": step, "loss": parts["loss"]}
            if is_logger:
                metrics |= validate(job, model, task, val_samples, step, tracker)
            report(model, optimizer, step, metrics, tracker)
    if not is_logger:
        return {}
    tracker.flush(force=True)
    with fail_fast_requests():
        try:
            mlflow.end_run()
        except TRACKING_ERRORS:
            pass                                  # the driver ends the run
    # Rank 0's return value reaches the driver, which logs what is still pending once the server is back.
    return {"diverged_at_step": diverged_at, "unlogged": tracker.pending}


def start_system_metrics(job: TrainJob) -> None:
    """Rank 0 joins the run as MLflow's active run, so that its system-metrics sampler runs (best effort)."""
    mlflow.set_tracking_uri(job.tracking_uri)
    mlflow.set_system_metrics_sampling_interval(SYSTEM_METRICS_INTERVAL_S)
    try:
        with fail_fast_requests():
            mlflow.start_run(run_id=job.run_id, log_system_metrics=job.system_metrics)
    except TRACKING_ERRORS as err:
        log.warning("no system metrics in this attempt: MLflow unreachable (%s)", str(err).splitlines()[0][:200])


def validate(job: TrainJob, model: torch.nn.Module, task: Task, samples: list[dict], step: int,
             tracker: BufferedRunLogger) -> dict[str, float]:
    """Rank 0: val metrics (fast boundary matching) and a prediction panel, logged at `step`."""
    module = model.module if hasattr(model, "module") else model
    predictions = predict(module, task, samples, batch_size=job.evaluate.batch_size)
    fast = EvaluateConfig(batch_size=job.evaluate.batch_size, boundary_mode="fast",
                          boundary_thresholds=min(job.evaluate.boundary_thresholds, 25), processes=1)
    metrics, _ = score(task, predictions, samples, fast, job.info)
    val = {f"val/{k}": float(v) for k, v in metrics.items() if np.isscalar(v)}
    tracker.log_metrics(val, step=step)
    panel_every = job.model.train.panel_every
    if step == job.model.train.steps or (panel_every and step % panel_every == 0):
        image = prediction_panel(task, predictions, samples, job.evaluate.panels)
        tracker.log_image(image, key="val_panel", step=step)
    return val


def report(model: torch.nn.Module, optimizer: torch.optim.Optimizer, step: int, metrics: dict,
           tracker: BufferedRunLogger | None) -> None:
    """Every rank reports; rank 0 (the one with the tracker) attaches {model, optimizer, step, unlogged metrics}
    as the checkpoint."""
    if tracker is None:
        ray.train.report(metrics)
        return
    module = model.module if hasattr(model, "module") else model
    with tempfile.TemporaryDirectory() as directory:
        torch.save({"model": module.state_dict(), "optimizer": optimizer.state_dict(), "step": step,
                    "unlogged": tracker.pending}, Path(directory) / CHECKPOINT_FILE)
        ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(directory))
