"""Shards and manifests: byte-stable writes, statistics against numpy, corruption survived and counted."""

import hashlib
import io
import logging
import math
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest

from components.data.schema import encode_sample
from components.data.shards import (
    CorruptCounter,
    iterate_samples,
    load_split,
    read_manifest,
    shard_paths,
    write_shards,
)
from components.errors import PixelpredError

H, W = 5, 6
ALL_FIELDS = ("depth", "edge", "rgb", "seg")


def make_sample(index: int) -> dict:
    rng = np.random.default_rng(index)
    depth = rng.uniform(0.5, 20.0, (H, W)).astype(np.float32)
    depth[rng.random((H, W)) < 0.3] = 0.0
    seg = rng.choice(np.array([0, 3, 7, 255], np.uint8), (H, W))
    return {
        "rgb": rng.integers(0, 256, (H, W, 3), dtype=np.uint8),
        "depth": depth,
        "seg": seg,
        "edge": (rng.random((2, H, W)) < 0.25).astype(np.uint8),
        "meta": {"scene": f"room{index % 3}", "source": "synth"},
    }


def make_samples(n: int) -> list[tuple[str, dict]]:
    return [(f"s{i:04d}", make_sample(i)) for i in range(n)]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def keys_of(samples) -> list[str]:
    return [sample["__key__"] for sample in samples]


@pytest.fixture
def split_dir(tmp_path) -> Path:
    write_shards(make_samples(7), tmp_path / "shards", "train", samples_per_shard=3)
    return tmp_path / "shards"


@pytest.mark.parametrize("n, per_shard", [(7, 3), (6, 3), (1, 5), (4, 1)])
def test_shard_count_and_byte_identical_rewrites(tmp_path, n, per_shard):
    first = write_shards(make_samples(n), tmp_path / "a", "train", per_shard)
    second = write_shards(iter(make_samples(n)), tmp_path / "b", "train", per_shard)
    assert len(first) == math.ceil(n / per_shard)
    assert [p.name for p in first] == [f"train-{i:06d}.tar" for i in range(len(first))]
    assert [sha256(p) for p in first] == [sha256(p) for p in second]
    manifests = [tmp_path / d / "train.manifest.parquet" for d in ("a", "b")]
    assert sha256(manifests[0]) == sha256(manifests[1])
    written = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert written == [p.name for p in first] + ["train.manifest.parquet"]  # no .partial files left


def test_tar_members_have_fixed_headers_and_stable_order(split_dir):
    names = []
    for path in shard_paths(split_dir, "train"):
        with tarfile.open(path) as tar:
            for member in tar.getmembers():
                assert (member.mtime, member.uid, member.gid, member.mode) == (0, 0, 0, 0o644)
                assert (member.uname, member.gname, member.isreg()) == ("", "", True)
                names.append(member.name)
    suffixes = sorted(s for s in encode_sample("x", make_sample(0)) if s != "__key__")
    assert names == [f"s{i:04d}.{suffix}" for i in range(7) for suffix in suffixes]


def test_rewrite_removes_stale_shards_of_the_split_only(tmp_path):
    write_shards(make_samples(5), tmp_path, "train", 1)
    write_shards(make_samples(2), tmp_path, "train-extra", 1)
    write_shards(make_samples(5), tmp_path, "train", 5)
    assert [Path(p).name for p in shard_paths(tmp_path, "train")] == ["train-000000.tar"]
    assert len(shard_paths(tmp_path, "train-extra")) == 2
    assert keys_of(load_split(tmp_path, "train")) == [f"s{i:04d}" for i in range(5)]


def test_manifest_rows_match_numpy_statistics(split_dir):
    rows = read_manifest(split_dir, "train").to_pylist()
    assert len(rows) == 7
    for index, row in enumerate(rows):
        sample = make_sample(index)
        assert row["key"] == f"s{index:04d}" and row["shard"] == f"train-{index // 3:06d}.tar"
        assert row["fields"] == ["depth", "edge", "meta", "rgb", "seg"]
        assert (row["height"], row["width"]) == (H, W)
        valid = sorted(float(d) for d in sample["depth"].ravel() if d > 0)
        middle = len(valid) // 2
        median = valid[middle] if len(valid) % 2 else (valid[middle - 1] + valid[middle]) / 2
        assert row["depth_min"] == valid[0] and row["depth_max"] == valid[-1]
        assert row["depth_median"] == pytest.approx(median, rel=1e-6)
        assert row["depth_valid_fraction"] == pytest.approx(len(valid) / (H * W))
        histogram = [sum(int(v) == c for v in sample["seg"].ravel()) for c in range(256)]
        assert row["seg_histogram"] == histogram and sum(row["seg_histogram"]) == H * W
        assert row["edge_boundary_fraction"] == pytest.approx(sample["edge"].sum() / sample["edge"].size)
        assert (row["scene"], row["source"]) == (f"room{index % 3}", "synth")


def test_manifest_leaves_missing_statistics_null(tmp_path):
    depth = np.zeros((H, W), np.float32)  # no valid pixel at all
    write_shards([("only", {"depth": depth})], tmp_path, "val", 4)
    (row,) = read_manifest(tmp_path, "val").to_pylist()
    assert row["fields"] == ["depth"] and row["depth_valid_fraction"] == 0.0
    assert row["depth_min"] is None and row["seg_histogram"] is None and row["scene"] is None


def test_missing_split_names_the_path(tmp_path):
    with pytest.raises(PixelpredError, match=str(tmp_path / "nowhere")):
        shard_paths(tmp_path / "nowhere", "train")
    with pytest.raises(PixelpredError, match=rf"no shards for split 'test' in {tmp_path}"):
        shard_paths(tmp_path, "test")
    with pytest.raises(PixelpredError, match="test.manifest.parquet does not exist"):
        read_manifest(tmp_path, "test")


def test_write_rejects_bad_input(tmp_path):
    with pytest.raises(PixelpredError, match="duplicate sample key 's0000'"):
        write_shards(make_samples(2) + make_samples(1), tmp_path, "train", 2)
    assert not list(tmp_path.glob("*.partial"))  # the failed shard was not left half-written
    with pytest.raises(PixelpredError, match="no samples"):
        write_shards([], tmp_path, "train", 2)
    with pytest.raises(PixelpredError, match="invalid split name"):
        write_shards(make_samples(1), tmp_path, "a/b", 2)


def test_ordered_pass_yields_every_sample_once_in_order(split_dir):
    samples = list(iterate_samples(shard_paths(split_dir, "train")))
    assert keys_of(samples) == [f"s{i:04d}" for i in range(7)]
    for index, sample in enumerate(samples):
        for name, value in make_sample(index).items():
            if name == "meta":
                assert sample[name] == value
            else:
                assert sample[name].dtype == value.dtype
                np.testing.assert_array_equal(sample[name], value)


def rewrite_tar(source: Path, target: Path, edit) -> None:
    """Copy a tar member by member; edit(name, data) returns new bytes, or None to drop the member."""
    with tarfile.open(source) as tar_in, tarfile.open(target, "w") as tar_out:
        for member in tar_in.getmembers():
            data = edit(member.name, tar_in.extractfile(member).read())
            if data is not None:
                member.size = len(data)
                tar_out.addfile(member, io.BytesIO(data))


def test_corrupt_samples_are_skipped_counted_and_logged(split_dir, tmp_path, caplog):
    broken = {
        "s0001.rgb.png": lambda data: b"\x89PNG garbage" * 5,  # garbage image bytes
        "s0003.seg.png": lambda data: None,  # missing field
        "s0004.depth.npy": lambda data: data[: len(data) - 7],  # truncated npy
    }
    bad_dir = tmp_path / "bad"
    bad_dir.mkdir()
    for path in map(Path, shard_paths(split_dir, "train")):
        rewrite_tar(path, bad_dir / path.name, lambda name, data: broken.get(name, lambda d: d)(data))
    counter = CorruptCounter()
    with caplog.at_level(logging.WARNING):
        samples = list(iterate_samples(shard_paths(bad_dir, "train"), counter=counter, required=ALL_FIELDS))
    assert keys_of(samples) == ["s0000", "s0002", "s0005", "s0006"]
    assert counter.count == 3
    for key in ("s0001", "s0003", "s0004"):
        assert any(key in message for message in counter.messages)
        assert any(key in record.getMessage() for record in caplog.records)
    # Without the requirement the sample missing its seg is a valid, smaller sample.
    assert "s0003" in keys_of(iterate_samples(shard_paths(bad_dir, "train"), counter=CorruptCounter()))


def test_truncated_shard_does_not_stop_the_stream(split_dir, tmp_path):
    paths = [Path(p) for p in shard_paths(split_dir, "train")]
    for path in paths:
        shutil.copy(path, tmp_path / path.name)
    middle = tmp_path / paths[1].name
    middle.write_bytes(middle.read_bytes()[:2500])  # cut inside the shard's first sample
    counter = CorruptCounter()
    keys = keys_of(load_split(tmp_path, "train", counter=counter, required=ALL_FIELDS))
    assert keys == ["s0000", "s0001", "s0002", "s0006"]
    assert counter.count >= 1


def test_load_split_fails_clearly_when_nothing_is_readable(tmp_path):
    write_shards(make_samples(2), tmp_path, "test", 2)
    shard = Path(shard_paths(tmp_path, "test")[0])
    garble_meta = lambda name, data: b"junk" if name.endswith(".json") else data  # noqa: E731
    rewrite_tar(shard, shard.with_suffix(".tmp"), garble_meta)
    shard.with_suffix(".tmp").replace(shard)
    with pytest.raises(PixelpredError, match=r"no readable sample \(2 corrupt\)"):
        load_split(tmp_path, "test")


def test_counter_reraises_bugs():
    with pytest.raises(TypeError, match="a bug"):
        CorruptCounter()(TypeError("a bug"))


def take_keys(stream, n: int) -> list[str]:
    iterator = iter(stream)
    return [next(iterator)["__key__"] for _ in range(n)]


def test_resampled_streams_are_seeded_and_infinite(split_dir):
    paths = shard_paths(split_dir, "train")
    first = take_keys(iterate_samples(paths, resampled=True, seed=1, shuffle_buffer=4), 40)
    again = take_keys(iterate_samples(paths, resampled=True, seed=1, shuffle_buffer=4), 40)
    other = take_keys(iterate_samples(paths, resampled=True, seed=2, shuffle_buffer=4), 40)
    assert first == again
    assert first != other
    assert len(first) == 40 and set(first) <= {f"s{i:04d}" for i in range(7)}


def test_shuffled_pass_is_a_seeded_permutation(split_dir):
    paths = shard_paths(split_dir, "train")
    orders = {seed: keys_of(iterate_samples(paths, shuffle_buffer=5, seed=seed)) for seed in range(4)}
    for order in orders.values():
        assert sorted(order) == [f"s{i:04d}" for i in range(7)]
    assert orders[0] == keys_of(iterate_samples(paths, shuffle_buffer=5, seed=0))
    assert len({tuple(order) for order in orders.values()}) > 1
