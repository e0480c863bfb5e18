"""Shared test set-up: quiet services, Ray's temp dir in a short path we remove, a tiny dataset, a moto S3 server."""
from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from pathlib import Path

import pytest
import yaml

from tests.services import start_moto, stop_service

REPO = Path(__file__).resolve().parents[1]

os.environ.update({
    "RAY_USAGE_STATS_ENABLED": "0",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "1",
    # Local Ray for tests listens on this machine only; no token file is written to ~/.ray.
    "RAY_AUTH_MODE": "disabled",
})
os.environ.pop("MLFLOW_TRACKING_URI", None)   # each test picks its own store
os.environ.pop("RAY_ADDRESS", None)


# The modules whose tests start Ray clusters (marked `ray`), longest first: under pytest-xdist (`make test` runs two
# workers) each runs whole on one worker, its tests in file order sharing the module's fixtures, and they are
# handed out before everything else, so the long ones do not start last. Ray instances of the two workers coexist
# (components.train.launch.local_ray points each at its own state API).
RAY_MODULES = ("tests/pipelines/test_dvc_pipeline.py", "tests/pipelines/test_cluster_submission.py",
               "tests/train/test_ray_training.py", "tests/storage/test_ray_on_s3.py", "tests/track/test_tracking.py")


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    from xdist.scheduler import LoadScopeScheduling

    class RayModulesFirst(LoadScopeScheduling):
        """Each RAY_MODULES module one unit of work, every other test a unit of its own, in collection order.

        (xdist's own xdist_group does nothing with pytest 9: it rewrites a node id attribute pytest no longer reads.)
        """
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::")[0]
            return module if module in RAY_MODULES else nodeid

    config.option.loadscopereorder = False    # its by-size order would put the few-test, slow Ray modules last
    return RayModulesFirst(config, log)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    outside = [item.nodeid for item in items
               if item.get_closest_marker("ray") and item.nodeid.split("::")[0] not in RAY_MODULES]
    if outside:
        raise pytest.UsageError(f"tests marked ray outside tests/conftest.py's RAY_MODULES: {outside}")
    rank = {module: i for i, module in enumerate(RAY_MODULES)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(RAY_MODULES)))   # stable: file order within


# Every key dvc.yaml tracks must be present (DVC does not know the dataclass defaults).
TINY_PARAMS = {
    "data": {"source": "synth", "seed": 0, "height": 48, "width": 64, "splits": {"train": 24, "val": 8, "test": 8},
             "num_annotators": 3, "samples_per_shard": 8, "processes": 2},
    "panorama": {"seed": 0, "height": 32, "splits": {"train": 8, "val": 2, "test": 4}, "samples_per_shard": 8},
    "video": {"seed": 1, "height": 32, "width": 48, "frames": 6, "test_frames": 11, "clips": {"train": 3, "val": 1, "test": 2},
              "pairs_per_clip": 4, "max_gap": 5, "eval_gaps": [1, 5, 10], "samples_per_shard": 8},
    "ray": {"num_workers": 1, "cpus_per_worker": 0, "max_failures": 1},
    "tracking": {"experiment": "pixelpred"},
    "storage": {"publish": ""},
    "evaluate": {"boundary_thresholds": 9, "panels": 2, "batch_size": 8},
    "degrade": {"train_photos": ["brick", "color"], "test_photos": ["camera", "chelsea"], "synth_train": 8,
                "synth_val": 4, "tile": 64, "test_size": 64, "seed": 0, "samples_per_shard": 16,
                "degradation": {"blur_grid": 2, "jpeg_qualities": [10, 40], "sr_scale": 4}},
    "models": {
        **{name: {"data": "shards", "backbone": {"layers": [1, 1, 1, 1], "width": 8},
                  "train": {"steps": 4, "batch_size": 4, "checkpoint_every": 2, "log_every": 2}}
           for name in ("seg_baseline", "boundary_baseline", "depth_baseline", "normal_baseline")},
        **{name: {"data": "restoration", "backbone": {"layers": [1, 1, 1, 1], "width": 8, "output_stride": 32},
                  "train": {"steps": 4, "batch_size": 4, "patch": 32, "checkpoint_every": 2, "log_every": 2,
                            "optim": {"name": "adam", "lr": 0.0005, "schedule": "constant"}}}
           for name in ("pff_deblur", "pff_jpeg", "pff_sr", "cnn_deblur", "cnn_jpeg", "cnn_sr")},
        "mgpff": {"data": "video", "backbone": {"layers": [1, 1, 1, 1], "width": 8},
                  "loss": {"kind": "multigrid", "flow_weight": 3.0, "fb_weight": 0.1, "smooth_weight": 0.01},
                  "train": {"steps": 4, "batch_size": 4, "checkpoint_every": 2, "log_every": 2,
                            "optim": {"name": "adam", "lr": 0.001, "schedule": "constant"}}},
        "flownet_s": {"data": "video", "backbone": {"width": 8, "output_stride": 16},
                      "loss": {"kind": "flownet", "supervised": 1.0},
                      "train": {"steps": 4, "batch_size": 4, "checkpoint_every": 2, "log_every": 2,
                                "optim": {"name": "adam", "lr": 0.001, "schedule": "constant"}}},
    },
}


@pytest.fixture(autouse=True)
def isolated_tracking(monkeypatch):
    """mlflow.set_tracking_uri exports MLFLOW_TRACKING_URI; no test may inherit another's store."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


@pytest.fixture(scope="session", autouse=True)
def ray_temp_dir():
    """Ray's sockets need a short path; the whole tree goes when the session ends."""
    path = tempfile.mkdtemp(prefix="ppray-", dir="/tmp")
    os.environ["RAY_TMPDIR"] = path
    yield path
    shutil.rmtree(path, ignore_errors=True)


def write_params(directory: Path, params: dict) -> Path:
    path = directory / "params.yaml"
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    return path


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory) -> Path:
    """A rendered + sharded tiny synth dataset (session-wide); returns its shards directory."""
    from pipelines.cli import main

    root = tmp_path_factory.mktemp("tiny")
    params = write_params(root, TINY_PARAMS)
    assert main(["--params", str(params), "download", "--out", str(root / "raw")]) == 0
    assert main(["--params", str(params), "prepare", "--raw", str(root / "raw"), "--out", str(root / "shards")]) == 0
    return root / "shards"


@pytest.fixture(scope="session")
def tiny_restoration(tiny_dataset) -> Path:
    """The `degrade` stage's restoration dataset built on the tiny synth shards; returns its directory."""
    from pipelines.cli import main

    root = tiny_dataset.parent
    params = root / "params.yaml"
    assert main(["--params", str(params), "degrade", "--synth", str(tiny_dataset), "--out", str(root / "restoration")]) == 0
    return root / "restoration"


S3_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
_buckets = itertools.count()


@pytest.fixture(scope="session")
def s3_endpoint() -> str:
    """A moto S3 server on 127.0.0.1 (a free port), for the session: its endpoint URL."""
    process, endpoint = start_moto()
    yield endpoint
    stop_service(process)


@pytest.fixture
def s3_bucket(s3_endpoint, monkeypatch):
    """Fake credentials in the environment and a new empty bucket -> (StorageConfig for the server, bucket name)."""
    import boto3

    from components.config import StorageConfig

    for key, value in S3_CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    bucket = f"bucket-{os.getpid()}-{next(_buckets)}"
    boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1").create_bucket(Bucket=bucket)
    return StorageConfig(endpoint_url=s3_endpoint, max_attempts=2, connect_timeout_s=1.0), bucket
