"""The dataset registry and the download stage's fetch (components/data/registry.py), offline.

Proven: the registry lists every dataset of SPEC §4.3 with a source, a converter or an explicit null, and the
published checksums with who publishes them; fetching from a loopback HTTP server verifies, records the lock
and unpacks, and a second run fetches nothing; a single flipped byte is always caught (by the registry's
checksum, or by the lock for files without one) and nothing is unpacked; files come from a moto S3 mirror
before the URLs, and can be put there; a missing login-gated file ends in one line naming the exact path;
an unsafe archive is refused.
"""
from __future__ import annotations

import hashlib
import importlib
import io
import json
import random
import tarfile
from dataclasses import replace
from pathlib import Path

import boto3
import pytest

from components.config import DownloadConfig, StorageConfig
from components.data import registry
from components.data.registry import DatasetEntry, RegistryFile
from components.data.video import VideoSource
from components.errors import NotFoundError, PixelpredError
from pipelines.cli import main
from tests.services import FileServer

FAST = DownloadConfig(attempts=20, backoff_s=0.0, timeout_s=5.0)
SPEC_DATASETS = {"bsds500", "nyuv2", "sun_rgbd", "stanford2d3d", "cityscapes", "voc_sbd", "div2k", "live1", "set5",
                 "set14", "urban100", "kohler", "bahat", "sintel", "davis2017", "jhmdb"}


def tar_gz(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def toy_entry(url: str, data: bytes, published: bool = True, **file_fields) -> DatasetEntry:
    checksum = {"sha256": hashlib.sha256(data).hexdigest(), "checksum_source": "this test"} if published else {}
    file = RegistryFile(name="toy.tar.gz", urls=(url,), size=len(data), unpack="toy", **{**checksum, **file_fields})
    return DatasetEntry(title="toy", tasks=("seg",), converter=None, license="-", splits="-", disk_gib=0.0,
                        files=(file,), name="toy")


TOY = tar_gz({"toy/a.txt": b"alpha", "toy/sub/b.bin": bytes(range(256)) * 40})
DAMAGED = TOY[:-1] + bytes([TOY[-1] ^ 0xFF])


def test_registry_lists_every_spec_dataset_with_a_source():
    entries = registry.load()
    assert set(entries) == SPEC_DATASETS
    for name, entry in entries.items():
        assert entry.files and entry.license and entry.splits and entry.disk_gib > 0, name
        for file in entry.files:
            assert all(url.startswith(("http://", "https://")) for url in file.urls), file
        if entry.converter is not None:
            source = importlib.import_module(f"components.data.native.{entry.converter}").SOURCE
            assert source.name == name
            # Video sets give clips (components.data.video); the others schema samples of their classes.
            assert isinstance(source, VideoSource) if name in ("sintel", "davis2017", "jhmdb") else source.class_names
    # Login-gated sets are manual; the published checksums the notes found are recorded with their source.
    assert all(f.manual for f in entries["cityscapes"].files)
    assert all(f.manual for f in entries["stanford2d3d"].files if f.name.endswith(".tar"))
    published = {f.name: f.sha256 for e in entries.values() for f in e.files if f.sha256}
    assert published["VOCtrainval_11-May-2012.tar"].startswith("e14f7632")
    assert published["benchmark.tgz"].startswith("6a5a2918")
    assert published["DIV2K_train_HR.zip"].startswith("9d0b9c46")
    assert published["DAVIS-2017-trainval-480p.zip"].startswith("e3d0b5b7")
    assert published["MPI-Sintel-complete.zip"].startswith("bdc80abb")
    assert published["gtFine_trainvaltest.zip"].startswith("40461a50")


def test_fetch_verifies_records_the_lock_unpacks_and_is_idempotent(tmp_path):
    raw, lock = tmp_path / "raw", tmp_path / "locks" / "toy.json"
    with FileServer({"toy.tar.gz": TOY}) as server:
        entry = toy_entry(server.url("toy.tar.gz"), TOY, published=False)
        registry.fetch(entry, raw, lock, FAST, StorageConfig())
        assert (raw / "toy" / "toy" / "a.txt").read_bytes() == b"alpha"
        assert json.loads(lock.read_text()) == {"toy.tar.gz": {"sha256": hashlib.sha256(TOY).hexdigest(),
                                                               "size": len(TOY)}}
        requests, unpacked = server.requests, (raw / "toy" / "toy" / "a.txt").stat().st_mtime_ns
        registry.fetch(entry, raw, lock, FAST, StorageConfig())
        assert server.requests == requests
        assert (raw / "toy" / "toy" / "a.txt").stat().st_mtime_ns == unpacked


@pytest.mark.parametrize("published", [True, False], ids=["registry-checksum", "lock-only"])
def test_a_single_flipped_byte_is_always_detected(tmp_path, published):
    good_lock = tmp_path / "lock.json"
    if not published:   # the lock recorded the good file on its first download
        good_lock.write_text(json.dumps({"toy.tar.gz": {"sha256": hashlib.sha256(TOY).hexdigest(), "size": len(TOY)}}))
    rng = random.Random(7)
    for trial in range(20):
        position = rng.randrange(len(TOY))
        bad = bytearray(TOY)
        bad[position] ^= 1 << rng.randrange(8)
        raw = tmp_path / f"raw{trial}"
        with FileServer({"toy.tar.gz": bytes(bad)}) as server:
            entry = toy_entry(server.url("toy.tar.gz"), TOY, published=published)
            with pytest.raises(PixelpredError, match="sha256"):
                registry.fetch(entry, raw, good_lock, FAST, StorageConfig())
        assert not (raw / "toy").exists() and not (raw / "toy.tar.gz").exists(), position


def test_a_damaged_local_file_is_downloaded_again(tmp_path):
    raw, lock = tmp_path / "raw", tmp_path / "lock.json"
    with FileServer({"toy.tar.gz": TOY}) as server:
        entry = toy_entry(server.url("toy.tar.gz"), TOY)
        registry.fetch(entry, raw, lock, FAST, StorageConfig())
        requests = server.requests
        (raw / "toy.tar.gz").write_bytes(DAMAGED)      # its mtime changes: checked again, fetched again
        registry.fetch(entry, raw, lock, FAST, StorageConfig())
        assert server.requests == requests + 1
    assert (raw / "toy.tar.gz").read_bytes() == TOY


def test_mirror_first_and_mirror_upload(tmp_path, s3_bucket):
    storage, bucket = s3_bucket
    s3 = boto3.client("s3", endpoint_url=storage.endpoint_url, region_name="us-east-1")
    mirror = f"s3://{bucket}/datasets"
    with FileServer({"toy.tar.gz": TOY}) as server:
        entry = toy_entry(server.url("toy.tar.gz"), TOY)
        # Empty mirror: HTTP, then the verified file is put into the mirror.
        registry.fetch(entry, tmp_path / "a", tmp_path / "a.json", replace(FAST, mirror=mirror, mirror_upload=True), storage)
        assert server.requests == 1
        assert s3.get_object(Bucket=bucket, Key="datasets/toy/toy.tar.gz")["Body"].read() == TOY
        # Now another machine gets it from the mirror and never touches the URL.
        registry.fetch(entry, tmp_path / "b", tmp_path / "b.json", replace(FAST, mirror=mirror), storage)
        assert server.requests == 1 and (tmp_path / "b" / "toy" / "toy" / "a.txt").read_bytes() == b"alpha"
    # A damaged mirror copy is caught like a damaged download, and the URL is used instead.
    s3.put_object(Bucket=bucket, Key="datasets/toy/toy.tar.gz", Body=DAMAGED)
    with FileServer({"toy.tar.gz": TOY}) as server:
        entry = toy_entry(server.url("toy.tar.gz"), TOY)
        registry.fetch(entry, tmp_path / "c", tmp_path / "c.json", replace(FAST, mirror=mirror), storage)
        assert server.requests == 1


def test_missing_manual_file_names_the_exact_path(tmp_path):
    entry = DatasetEntry(title="gated", tasks=("seg",), converter=None, license="-", splits="-", disk_gib=0.0,
                         name="gated", files=(RegistryFile(name="gated.tar.gz", manual="log in at example.org",
                                                           unpack="gated"),))
    raw = tmp_path / "raw"
    with pytest.raises(NotFoundError) as caught:
        registry.fetch(entry, raw, tmp_path / "lock.json", FAST, StorageConfig())
    assert f"put gated.tar.gz at {(raw / 'gated.tar.gz').resolve()} (log in at example.org)" in str(caught.value)
    (raw / "gated.tar.gz").write_bytes(TOY)
    registry.fetch(entry, raw, tmp_path / "lock.json", FAST, StorageConfig())
    assert (raw / "gated" / "toy" / "a.txt").read_bytes() == b"alpha"


def test_download_stage_explains_a_login_gated_dataset(tmp_path, capsys):
    assert main(["download", "--dataset", "cityscapes", "--out", str(tmp_path / "raw"),
                 "--lock", str(tmp_path / "lock.json")]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1
    assert f"put gtFine_trainvaltest.zip at {(tmp_path / 'raw' / 'gtFine_trainvaltest.zip').resolve()}" in error
    assert "cityscapes needs 4 file(s)" in error


def test_unsafe_archive_is_refused_before_anything_is_unpacked(tmp_path):
    evil = tar_gz({"../escaped.txt": b"x"})
    with FileServer({"toy.tar.gz": evil}) as server:
        entry = toy_entry(server.url("toy.tar.gz"), evil)
        with pytest.raises(PixelpredError, match="escaped"):
            registry.fetch(entry, tmp_path / "raw", tmp_path / "lock.json", FAST, StorageConfig())
    assert not (tmp_path / "escaped.txt").exists() and not (tmp_path / "raw" / "toy").exists()
