"""Driver side of training: connect to Ray, run the TorchTrainer, register the result in MLflow.

The same call works against a local Ray started here, an existing head ($RAY_ADDRESS or
`ray.address` in params) or a cluster reached through `ray job submit` (which sets
RAY_ADDRESS); checkpoints go to `ray.storage_path` (S3 on a multi-node cluster).

A stage's Ray Train run is named after what it trains (model, registered name, settings, data), so running
the same stage again after its driver died resumes that run from its last checkpoint, and continues its
MLflow run, instead of starting over. A run that finished is marked so in its storage directory; the next
run of the same settings (e.g. `dvc repro --force`) starts a new attempt `<name>-2`, `-3`, ...
"""
from __future__ import annotations

import hashlib
import itertools
import json
import logging
import os
import socket
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import mlflow
import ray
import torch
from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
from ray.train.torch import TorchTrainer
from torch import nn

from components.config import Params, RayConfig, StorageConfig, flatten, to_dict
from components.data.dataset import DatasetInfo
from components.data.shards import shard_paths
from components.errors import NotFoundError, PixelpredError
from components.storage import s3
from components.storage.location import Location, child, is_remote, read_bytes, write_bytes
from components.models import create_model, model_task
from components.tasks import get_task
from components.track.datasets import manifest_digest, split_dataset
from components.track.registry import ModelPointer, register_model
from components.track.tracking import (TRACKING_ERRORS, BufferedRunLogger, connect, fail_fast_requests,
                                       resolve_tracking_uri, run_tags)
from components.train.loop import CHECKPOINT_FILE, TrainJob, train_loop_per_worker

log = logging.getLogger(__name__)

# Unix socket paths under Ray's temp dir must stay short (~107 bytes).
_MAX_RAY_TMP_LEN = 40
HEALTH_CHECK_INTERVAL_ENV, HEALTH_CHECK_INTERVAL_S = "RAY_TRAIN_HEALTH_CHECK_INTERVAL_S", "0.25"
API_SERVER_ENV = "RAY_API_SERVER_ADDRESS"     # read by Ray's state API and `ray job` before RAY_ADDRESS


@dataclass(frozen=True)
class TrainOutcome:
    pointer: ModelPointer
    model: nn.Module                   # the final weights, as registered
    model_config: dict                 # what rebuilds it: model name, task, builder kwargs, resolved ModelConfig
    timings: dict[str, float]          # seconds: ray start-up, fit, registration
    metrics: dict[str, float]          # last metrics reported by rank 0
    history: list[dict[str, float]]    # training curve: rows of {step, loss} as logged by rank 0


def ray_temp_dir(root: Path) -> str:
    """$RAY_TMPDIR, else <repo>/.ray/tmp, else a short per-checkout path in the system temp dir."""
    if os.environ.get("RAY_TMPDIR"):
        return os.environ["RAY_TMPDIR"]
    local = root.resolve() / ".ray" / "tmp"
    if len(str(local)) <= _MAX_RAY_TMP_LEN:
        return str(local)
    digest = hashlib.sha1(str(root.resolve()).encode()).hexdigest()[:10]
    return os.path.join(tempfile.gettempdir(), f"pixelpred-ray-{digest}")


@contextmanager
def local_ray(temp_dir: str, **init_kwargs) -> Iterator[ray.runtime_context.RuntimeContext]:
    """Start a Ray instance on this machine for the duration of the block.

    The dashboard serves the state API that Ray Train's placement-group cleaner (an actor) polls; loopback
    only. The cleaner finds it by auto-detection, which fails once a second Ray instance runs on the machine
    (another stage, a parallel test worker): so the dashboard gets a port chosen here, and the instance's
    processes inherit RAY_API_SERVER_ADDRESS naming it. Ray's GCS and raylets still listen on every interface
    (`_node_ip_address` does not change that); its token authentication guards them.
    """
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    previous = os.environ.get(API_SERVER_ENV)
    os.environ[API_SERVER_ENV] = f"http://127.0.0.1:{port}"
    try:
        yield ray.init(dashboard_host="127.0.0.1", dashboard_port=port, _temp_dir=temp_dir, log_to_driver=True,
                       **init_kwargs)
    finally:
        ray.shutdown()
        if previous is None:
            os.environ.pop(API_SERVER_ENV, None)
        else:
            os.environ[API_SERVER_ENV] = previous


@contextmanager
def ray_session(config: RayConfig, root: Path) -> Iterator[None]:
    """Attach to the configured Ray cluster, or start a local one for the duration of the block."""
    address = config.address or os.environ.get("RAY_ADDRESS", "")
    if ray.is_initialized():
        yield
    elif address:
        ray.init(address=address, log_to_driver=True)
        try:
            yield
        finally:
            ray.shutdown()
    else:
        with local_ray(ray_temp_dir(root)):
            yield


RUN_STATE_FILE = "pixelpred_run.json"   # beside Ray's files of a run: its MLflow run and whether it finished


def storage_path(config: RayConfig, root: Path) -> str:
    return config.storage_path or str((root / ".ray" / "results").resolve())


def run_identity(name: str, registered_name: str, params: Params, shards_dir: Location, manifest: str) -> str:
    """What a training run is: the same model, settings and data give the same Ray Train run name."""
    what = {"model": name, "registered": registered_name, "config": to_dict(params.model(name)),
            "ray": {"num_workers": params.ray.num_workers, "use_gpu": params.ray.use_gpu},
            "shards": str(shards_dir), "train_manifest": manifest}
    digest = hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:12]
    return f"{registered_name}-{digest}"


def claim_run(base: str, root: str, storage: StorageConfig) -> tuple[str, str]:
    """-> (Ray Train run name, MLflow run id to continue or ''): the first attempt of `base` that has not finished.

    An unfinished attempt whose MLflow run this tracking store does not know (another store, a wiped
    database) is passed over as well: resuming it would log into a run that is not there.
    """
    for attempt in itertools.count(1):
        name = base if attempt == 1 else f"{base}-{attempt}"
        try:
            state = json.loads(read_bytes(child(root, f"{name}/{RUN_STATE_FILE}"), storage))
        except NotFoundError:
            return name, ""
        if not state["complete"]:
            try:
                mlflow.MlflowClient().get_run(state["mlflow_run_id"])
                return name, state["mlflow_run_id"]
            except mlflow.exceptions.MlflowException:
                log.warning("%s: its MLflow run %s is not in this store; starting a new attempt", name,
                            state["mlflow_run_id"])


def write_run_state(root: str, name: str, storage: StorageConfig, **state: object) -> None:
    write_bytes(child(root, f"{name}/{RUN_STATE_FILE}"), json.dumps(state, indent=2).encode(), storage)


def train_and_register(name: str, params: Params, shards_dir: Location, register_as: str = "",
                       inject_failure_at_step: int = 0) -> TrainOutcome:
    """Train model `name` with Ray Train, log everything to MLflow, register the final checkpoint
    under `register_as` (default: the model's own name)."""
    task = get_task(model_task(name))
    model_cfg = params.model(name)
    task.check_loss(model_cfg.loss)
    storage = params.storage
    info = DatasetInfo.read(shards_dir, storage)
    if not is_remote(shards_dir):
        shards_dir = Path(shards_dir).resolve()         # workers run in other directories
    train_shards = tuple(shard_paths(shards_dir, "train", storage))
    shard_paths(shards_dir, "val", storage)             # fail now, not inside a worker
    experiment_id = connect(params.tracking, params.root)

    registered_name = register_as or name
    results = storage_path(params.ray, params.root)
    base = run_identity(name, registered_name, params, shards_dir, manifest_digest(shards_dir, "train", storage))
    ray_run, mlflow_run_id = claim_run(base, results, storage)
    if mlflow_run_id:
        log.info("resuming Ray Train run %s (MLflow run %s) from its last checkpoint", ray_run, mlflow_run_id)
    with mlflow.start_run(run_id=mlflow_run_id or None, experiment_id=None if mlflow_run_id else experiment_id,
                          run_name=None if mlflow_run_id else f"train@{registered_name}") as run:
        if not mlflow_run_id:
            mlflow.set_tags({**run_tags("train", name, registered_name, task.name, info.source), "ray_run": ray_run})
            mlflow.log_params({**flatten(to_dict(model_cfg), f"{name}."), **flatten(to_dict(params.ray), "ray."),
                               "data.source": info.source, "data.train_size": info.split_sizes["train"]})
            for split, context in (("train", "training"), ("val", "validation")):
                mlflow.log_input(split_dataset(shards_dir, split, info.source, storage), context=context)
    write_run_state(results, ray_run, storage, mlflow_run_id=run.info.run_id, complete=False)
    job = TrainJob(model_name=name, task=task.name, model=model_cfg, info=info, train_shards=train_shards,
                   val_dir=str(shards_dir), storage=storage, tracking_uri=resolve_tracking_uri(params.tracking, params.root),
                   run_id=run.info.run_id, evaluate=params.evaluate, system_metrics=params.tracking.system_metrics,
                   inject_failure_at_step=inject_failure_at_step)

    timings: dict[str, float] = {}
    tic = time.perf_counter()
    with ray_session(params.ray, params.root):
        timings["ray_start_s"] = time.perf_counter() - tic
        tic = time.perf_counter()
        result = fit(job, ray_run, params.ray, results, storage)
        timings["fit_s"] = time.perf_counter() - tic

    tic = time.perf_counter()
    log_unlogged(result, job, params.tracking.reconnect_timeout_s, f"{results}/{ray_run}")
    model_kwargs = task.model_kwargs(info)
    model = create_model(name, model_cfg.backbone, **model_kwargs)
    with result.checkpoint.as_directory() as directory:
        state = torch.load(Path(directory) / CHECKPOINT_FILE, map_location="cpu", weights_only=True)
    model.load_state_dict(state["model"])
    model_config = {"model": name, "task": task.name, "class_names": list(info.class_names),
                    "model_kwargs": model_kwargs, **to_dict(model_cfg)}
    try:
        pointer = register_model(model, name, registered_name, run.info.run_id, params.tracking.alias, model_config)
    except TRACKING_ERRORS as err:
        raise PixelpredError(f"registering {registered_name} in MLflow failed ({str(err).splitlines()[0][:200]}); "
                             "re-run the stage: it resumes from the final checkpoint") from None
    write_run_state(results, ray_run, storage, mlflow_run_id=run.info.run_id, complete=True,
                    model_version=pointer.version)
    timings["register_s"] = time.perf_counter() - tic
    log.info("registered %s version %s (run %s)", pointer.name, pointer.version, pointer.run_id)
    curve = mlflow.MlflowClient().get_metric_history(run.info.run_id, "train/loss")
    history = [{"step": m.step, "loss": m.value} for m in sorted(curve, key=lambda m: m.step)]
    return TrainOutcome(pointer=pointer, model=model, model_config=model_config, timings=timings,
                        metrics={k: float(v) for k, v in result.metrics.items()}, history=history)


def log_unlogged(result, job: TrainJob, timeout_s: float, run_dir: str) -> None:
    """Log what rank 0 could not log during a tracking outage, waiting up to `timeout_s` for the server; else fail
    with one line saying where the metrics wait (the final checkpoint) and how to finish (re-run the stage)."""
    tracker = BufferedRunLogger(job.tracking_uri, job.run_id, (result.return_value or {}).get("unlogged"))
    deadline = time.monotonic() + timeout_s
    while not tracker.flush(force=True):
        if time.monotonic() >= deadline:
            raise PixelpredError(
                f"MLflow at {job.tracking_uri} still unreachable {timeout_s:g} s after training {job.model_name} "
                f"finished: {len(tracker.metrics)} metric values wait in the final checkpoint of {run_dir}; re-run "
                "the stage once the server is back to log them and register the model")
        time.sleep(tracker.RETRY_EVERY_S)


def mark_failed(run_id: str) -> None:
    """Best effort: the run shows as failed in MLflow unless the server itself is what failed."""
    try:
        with fail_fast_requests():
            mlflow.MlflowClient().set_terminated(run_id, status="FAILED")
    except TRACKING_ERRORS:
        log.warning("could not mark MLflow run %s as failed (tracking server unreachable)", run_id)


def worker_cpus(config: RayConfig) -> float:
    """CPUs each Ray Train worker asks for: `ray.cpus_per_worker`, or (0) the cluster's CPUs shared among the
    workers, at most one node's worth, so that a stage uses every core of the machine it runs on."""
    if config.cpus_per_worker:
        return config.cpus_per_worker
    nodes = [node["Resources"].get("CPU", 0.0) for node in ray.nodes() if node["Alive"]]
    return max(1.0, min(max(nodes, default=1.0), sum(nodes) // config.num_workers))


def fit(job: TrainJob, run_name: str, config: RayConfig, results: str, storage: StorageConfig):
    """Run (or resume) the worker loop on `config.num_workers` Ray Train workers -> ray.train.Result.

    `results` is a local directory or an s3:// URI; for S3, Ray gets a pyarrow filesystem with the project's
    endpoint and the path without its scheme (Ray's convention for a custom storage_filesystem).
    """
    cpus = worker_cpus(config)
    log.info("%d Ray Train worker(s) x %g CPU%s", config.num_workers, cpus, ", 1 GPU each" if config.use_gpu else "")
    # The Train controller polls its workers this often, and a report or the end of training waits for the next
    # poll: Ray's default of 2 s added ~2 s per report and per run here. Ray hands the variable to the controller.
    os.environ.setdefault(HEALTH_CHECK_INTERVAL_ENV, HEALTH_CHECK_INTERVAL_S)
    trainer = TorchTrainer(
        train_loop_per_worker,
        train_loop_config={"job": job},
        scaling_config=ScalingConfig(num_workers=config.num_workers, use_gpu=config.use_gpu,
                                     resources_per_worker={"CPU": cpus}),
        run_config=RunConfig(
            name=run_name,
            storage_path=results[len(s3.SCHEME):] if is_remote(results) else results,
            storage_filesystem=s3.arrow_filesystem(storage) if is_remote(results) else None,
            failure_config=FailureConfig(max_failures=config.max_failures),
            checkpoint_config=CheckpointConfig(num_to_keep=2),
        ),
    )
    try:
        result = trainer.fit()
    except Exception as err:  # Ray wraps worker errors; surface one line, keep the run marked failed
        mark_failed(job.run_id)
        raise PixelpredError(f"training {job.model_name} failed: {str(err).splitlines()[0]}") from err
    diverged_at = (result.return_value or {}).get("diverged_at_step", 0)
    if diverged_at:
        mark_failed(job.run_id)
        raise PixelpredError(f"training {job.model_name} diverged at step {diverged_at}: the loss is not finite "
                             "(lower optim.lr or set train.grad_clip)")
    if result.checkpoint is None:
        raise PixelpredError(f"training {job.model_name} finished without a checkpoint")
    return result
