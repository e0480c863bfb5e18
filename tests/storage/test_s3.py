"""The storage layer against a moto S3 server on loopback: publishing, reading shards from S3 exactly as
locally (streamed), resuming a dropped read, corrupt samples counted, and one-line errors for what is missing."""
from __future__ import annotations

import io
import json
import tarfile
import time
from pathlib import Path

import botocore.exceptions
import pytest

from components.config import StorageConfig
from components.data.dataset import DatasetInfo
from components.data.shards import CorruptCounter, iterate_samples, load_split, read_manifest, shard_paths
from components.errors import PixelpredError
from components.storage import s3
from components.storage.local import file_digests
from components.storage.publish import publish
from components.track.datasets import manifest_digest
from tests.conftest import TINY_PARAMS, write_params


def keys(samples) -> list[str]:
    return [sample["__key__"] for sample in samples]


@pytest.fixture
def published(tiny_dataset, s3_bucket, tmp_path):
    """The tiny shards published to the test bucket -> (prefix, storage, pointer path)."""
    storage, bucket = s3_bucket
    storage = StorageConfig(**{**storage.__dict__, "publish": f"s3://{bucket}/datasets"})
    pointer = tmp_path / "shards.published.json"
    prefix = publish(tiny_dataset, storage, pointer)
    return prefix, storage, pointer


def test_publish_uploads_every_file_and_the_pointer_names_them_with_hashes(published, tiny_dataset):
    prefix, storage, pointer = published
    record = json.loads(pointer.read_text())
    local = sorted(p.name for p in tiny_dataset.iterdir() if p.is_file())
    assert record["uri"] == prefix == f"{storage.publish}/{tiny_dataset.name}"
    assert [o["name"] for o in record["objects"]] == local == s3.list_names(prefix, storage)
    for entry in record["objects"]:
        assert entry["sha256"] == file_digests(tiny_dataset / entry["name"])["sha256"]
        assert s3.read_bytes(s3.join(prefix, entry["name"]), storage) == (tiny_dataset / entry["name"]).read_bytes()
    # Neither the pointer nor the settings it came from carry credentials.
    assert "testing" not in pointer.read_text() and "testing" not in json.dumps(storage.__dict__)


def test_unset_publish_writes_a_pointer_that_says_so(tiny_dataset, tmp_path):
    pointer = tmp_path / "p.json"
    assert publish(tiny_dataset, StorageConfig(), pointer) == ""
    assert json.loads(pointer.read_text()) == {"uri": "", "objects": []}


def test_shards_read_from_s3_equal_the_local_ones(published, tiny_dataset):
    prefix, storage, _ = published
    assert [Path(p).name for p in shard_paths(prefix, "train", storage)] == \
           [Path(p).name for p in shard_paths(tiny_dataset, "train")]
    assert DatasetInfo.read(prefix, storage) == DatasetInfo.read(tiny_dataset)
    assert read_manifest(prefix, "val", storage).equals(read_manifest(tiny_dataset, "val"))
    assert manifest_digest(prefix, "train", storage) == manifest_digest(tiny_dataset, "train")
    remote, local = load_split(prefix, "test", storage=storage), load_split(tiny_dataset, "test")
    assert keys(remote) == keys(local)
    assert all((r["rgb"] == l["rgb"]).all() and (r["depth"] == l["depth"]).all() for r, l in zip(remote, local))
    # The training stream: same seed, same samples in the same order.
    stream = lambda location, **kw: iterate_samples(shard_paths(location, "train", **kw), resampled=True, seed=3,
                                                    shuffle_buffer=4, **kw)
    take = lambda samples: [s["__key__"] for _, s in zip(range(30), samples)]
    assert take(stream(prefix, storage=storage)) == take(stream(tiny_dataset))


def test_a_dropped_connection_resumes_from_the_next_byte(published, monkeypatch):
    prefix, storage, _ = published
    uri = shard_paths(prefix, "train", storage)[0]
    expected = s3.read_bytes(uri, storage)
    real_get = s3.client(storage).get_object
    calls = []

    class Flaky:
        """The first body breaks after 3000 bytes, as a reset connection does."""
        def __init__(self, body, fail):
            self.body, self.fail, self.sent = body, fail, 0

        def read(self, n):
            if self.fail and self.sent >= 3000:
                raise botocore.exceptions.ResponseStreamingError(error="connection reset")
            data = self.body.read(min(n, 3000 - self.sent) if self.fail else n)
            self.sent += len(data)
            return data

        def close(self):
            self.body.close()

    def get_object(**kwargs):
        calls.append(kwargs.get("Range"))
        response = real_get(**kwargs)
        return {**response, "Body": Flaky(response["Body"], fail=len(calls) == 1)}

    monkeypatch.setattr(s3.client(storage), "get_object", get_object)
    assert s3.read_bytes(uri, storage) == expected
    assert calls == [None, "bytes=3000-"]


def test_a_corrupt_sample_in_an_s3_shard_is_skipped_and_counted(published, tiny_dataset, tmp_path):
    prefix, storage, _ = published
    source = Path(shard_paths(tiny_dataset, "train")[0])
    bad = tmp_path / source.name
    with tarfile.open(source) as tar_in, tarfile.open(bad, "w") as tar_out:
        first_rgb = next(name for name in tar_in.getnames() if name.endswith(".rgb.png"))
        for member in tar_in.getmembers():
            data = b"not a png" if member.name == first_rgb else tar_in.extractfile(member).read()
            member.size = len(data)
            tar_out.addfile(member, io.BytesIO(data))
    s3.upload_file(bad, s3.join(prefix, source.name), storage)
    counter = CorruptCounter()
    samples = list(iterate_samples(shard_paths(prefix, "train", storage), counter=counter, required=("rgb",),
                                   storage=storage))
    assert counter.count == 1 and len(samples) == len(load_split(tiny_dataset, "train")) - 1


def test_missing_bucket_prefix_and_object_are_one_clear_line(s3_bucket):
    storage, bucket = s3_bucket
    with pytest.raises(PixelpredError, match="bucket does not exist"):
        shard_paths(f"s3://no-such-bucket-{bucket}/shards", "train", storage)
    with pytest.raises(PixelpredError, match="no shards for split 'train'"):
        shard_paths(f"s3://{bucket}/nothing-here", "train", storage)
    with pytest.raises(PixelpredError, match="no prepared dataset"):
        DatasetInfo.read(f"s3://{bucket}/nothing-here", storage)
    with pytest.raises(PixelpredError, match="no such object"):
        s3.read_bytes(f"s3://{bucket}/missing.tar", storage)


def test_an_unreachable_endpoint_fails_clearly_within_30_s(monkeypatch):
    import socket
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, "testing")
    with socket.socket() as probe:              # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    storage = StorageConfig(endpoint_url=f"http://127.0.0.1:{port}")   # default retries and timeouts
    start = time.monotonic()
    with pytest.raises(PixelpredError, match="cannot reach the S3 endpoint") as err:
        shard_paths("s3://bucket/shards", "train", storage)
    assert time.monotonic() - start < 30
    assert "\n" not in str(err.value)


def test_prepare_publishes_through_params_and_a_failed_publish_leaves_no_pointer(s3_bucket, tmp_path):
    from pipelines.cli import main
    storage, bucket = s3_bucket
    params = {**TINY_PARAMS, "storage": {"endpoint_url": storage.endpoint_url, "publish": f"s3://{bucket}/v1"}}
    path = write_params(tmp_path, params)
    assert main(["--params", str(path), "download", "--out", str(tmp_path / "raw")]) == 0
    assert main(["--params", str(path), "prepare", "--raw", str(tmp_path / "raw"), "--out", str(tmp_path / "shards")]) == 0
    record = json.loads((tmp_path / "shards.published.json").read_text())
    assert record["uri"] == f"s3://{bucket}/v1/shards" and len(record["objects"]) == len(list((tmp_path / "shards").iterdir()))
    assert len(load_split(record["uri"], "val", storage=storage)) == TINY_PARAMS["data"]["splits"]["val"]

    params["storage"]["publish"] = f"s3://missing-{bucket}/v1"
    path = write_params(tmp_path, params)
    assert main(["--params", str(path), "prepare", "--raw", str(tmp_path / "raw"), "--out", str(tmp_path / "again"),
                 "--published", str(tmp_path / "again.json")]) != 0
    assert not (tmp_path / "again.json").exists()


def test_a_stage_output_on_s3_appears_whole_pointer_last_or_not_at_all(s3_bucket, monkeypatch):
    from components.storage.location import list_names, output_directory

    storage, bucket = s3_bucket
    uploaded = []
    real_upload = s3.upload_file
    monkeypatch.setattr(s3, "upload_file", lambda path, uri, config: (uploaded.append(uri), real_upload(path, uri, config)))
    with pytest.raises(RuntimeError):
        with output_directory(f"s3://{bucket}/failed", storage, last="model.json") as staging:
            (staging / "model.json").write_text("{}")
            raise RuntimeError("the stage failed before its outputs were complete")
    assert not uploaded
    with output_directory(f"s3://{bucket}/done", storage, last="model.json") as staging:
        for name in ("model.json", "checkpoint.pt", "metrics.json"):
            (staging / name).write_text(name)
        (staging / "plots").mkdir()
        (staging / "plots" / "panel.png").write_text("png")
    assert uploaded[-1] == f"s3://{bucket}/done/model.json" and len(uploaded) == 4
    assert list_names(f"s3://{bucket}/done", storage) == ["checkpoint.pt", "metrics.json", "model.json"]
    assert s3.read_bytes(f"s3://{bucket}/done/plots/panel.png", storage) == b"png"


def test_train_to_a_missing_bucket_fails_before_training_with_one_line(s3_bucket, tiny_dataset, tmp_path, capsys):
    from pipelines.cli import main

    storage, bucket = s3_bucket
    path = write_params(tmp_path, {**TINY_PARAMS, "storage": {"endpoint_url": storage.endpoint_url}})
    start = time.monotonic()
    assert main(["--params", str(path), "train", "seg_baseline", "--shards", str(tiny_dataset),
                 "--out", f"s3://missing-{bucket}/results/train/seg_baseline"]) == 2
    assert time.monotonic() - start < 30
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("pixelpred train: error:") and "bucket does not exist" in line
    assert not (tmp_path / "mlflow").exists()                  # nothing started: no run, no store
