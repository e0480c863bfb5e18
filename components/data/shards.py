"""Deterministic WebDataset shards + a per-split parquet manifest, and a corruption-tolerant reader.

Layout: ``<out_dir>/<split>-000000.tar``, ... and ``<out_dir>/<split>.manifest.parquet``.
Same samples in -> byte-identical shards out, so DVC hashes stay stable. Shards are written locally; they
are read from a local directory or an ``s3://bucket/prefix`` alike (components/storage/location.py), S3
objects streamed as they are read.
"""

import io
import itertools
import logging
import os
import re
import tarfile
from collections import deque
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import webdataset as wds

from components.config import StorageConfig
from components.data.schema import CorruptSampleError, decode_sample, encode_sample, spatial_size
from components.errors import NotFoundError, PixelpredError
from components.storage.location import Location, child, is_remote, list_names, open_binary, read_bytes

log = logging.getLogger(__name__)

_SPLIT_PATTERN = re.compile(r"[A-Za-z0-9_\-]+")
SEG_CLASSES = 256  # uint8 labels: the histogram keeps every id, the 255 "ignore" bin included

MANIFEST_SCHEMA = pa.schema(
    [
        ("key", pa.string()),
        ("shard", pa.string()),  # shard file name, relative to the split's directory
        ("fields", pa.list_(pa.string())),
        ("height", pa.int32()),
        ("width", pa.int32()),
        ("depth_min", pa.float64()),  # over valid depth (finite and > 0); null when none is valid
        ("depth_median", pa.float64()),
        ("depth_max", pa.float64()),
        ("depth_valid_fraction", pa.float64()),
        ("seg_histogram", pa.list_(pa.int64())),  # pixel count per class id, length SEG_CLASSES
        ("edge_boundary_fraction", pa.float64()),  # mean over annotators of the boundary-pixel fraction
        ("flow_mean_px", pa.float64()),  # video pairs: flow of a into b, mean and largest length in pixels
        ("flow_max_px", pa.float64()),
        ("valid_fraction", pa.float64()),  # fraction of a's pixels visible in b
        ("scene", pa.string()),
        ("source", pa.string()),
        ("clip", pa.string()),  # video: the clip a pair or an evaluation clip comes from
        ("gap", pa.int32()),  # video pairs: frames between a and b
    ]
)


@dataclass
class CorruptCounter:
    """Webdataset exception handler: counts and logs a corrupt sample or shard, then continues.

    Process-local: each DataLoader worker counts its own share.
    """

    count: int = 0
    messages: deque[str] = field(default_factory=lambda: deque(maxlen=8))

    def __call__(self, exn: Exception) -> bool:
        """Exception -> True (skip and go on) for data corruption; anything else is re-raised."""
        # Tar/IO/grouping failures come from bytes on disk; decode failures arrive as
        # CorruptSampleError. Other exceptions are bugs and must not be swallowed.
        # A shard that is not there at all is a wrong path, not corruption: fail loudly.
        if isinstance(exn, FileNotFoundError) or not isinstance(
                exn, CorruptSampleError | tarfile.TarError | OSError | EOFError | ValueError):
            raise exn
        self.count += 1
        message = f"{type(exn).__name__}: {exn}"
        self.messages.append(message)
        log.warning("skipping corrupt data: %s", message)
        return True


def _check_split(split: str) -> str:
    if not _SPLIT_PATTERN.fullmatch(split):
        raise PixelpredError(f"invalid split name {split!r}: use letters, digits, '_' or '-'")
    return split


def _shard_name_pattern(split: str) -> re.Pattern[str]:
    return re.compile(re.escape(split) + r"-\d{6}\.tar")


def manifest_path(out_dir: Path, split: str) -> Path:
    """(shard directory, split) -> path of the split's manifest parquet."""
    return Path(out_dir) / f"{_check_split(split)}.manifest.parquet"


def _sample_statistics(sample: dict[str, Any]) -> dict[str, Any]:
    """Sample dict -> its manifest statistics: valid-depth range, class histogram, boundary fraction, flow size."""
    stats: dict[str, Any] = {}
    if "depth" in sample:
        depth = sample["depth"]
        valid = depth[np.isfinite(depth) & (depth > 0)]
        stats["depth_valid_fraction"] = valid.size / depth.size
        if valid.size:
            stats["depth_min"], stats["depth_max"] = float(valid.min()), float(valid.max())
            stats["depth_median"] = float(np.median(valid))
    if "seg" in sample:
        stats["seg_histogram"] = np.bincount(sample["seg"].ravel(), minlength=SEG_CLASSES).tolist()
    if "edge" in sample:
        stats["edge_boundary_fraction"] = float((sample["edge"] > 0).mean())
    if "flow" in sample:
        magnitude = np.linalg.norm(sample["flow"], axis=-1)
        stats["flow_mean_px"], stats["flow_max_px"] = float(magnitude.mean()), float(magnitude.max())
        stats["valid_fraction"] = float((sample["valid"] > 0).mean())
    meta = sample.get("meta", {})
    for name in ("scene", "source", "clip"):
        if meta.get(name) is not None:
            stats[name] = str(meta[name])
    if "gap" in meta:
        stats["gap"] = int(meta["gap"])
    return stats


def _add_member(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    # Every header field fixed: no clock, owner or umask leaks into the shard's bytes.
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), 0, 0o644
    info.uid, info.gid, info.uname, info.gname = 0, 0, "", ""
    tar.addfile(info, io.BytesIO(data))


def _write_tar(path: Path, samples: Iterable[tuple[str, dict]], seen: set[str]) -> list[dict[str, Any]]:
    """(tar path, samples, keys already written) -> manifest rows; writes the shard atomically."""
    rows = []
    partial_path = path.with_name(path.name + ".partial")
    try:
        with tarfile.open(partial_path, "w", format=tarfile.PAX_FORMAT) as tar:
            for key, sample in samples:
                if key in seen:
                    raise PixelpredError(f"duplicate sample key {key!r} in {path.parent}")
                seen.add(key)
                raw = encode_sample(key, sample)
                for suffix in sorted(s for s in raw if not s.startswith("__")):
                    _add_member(tar, f"{key}.{suffix}", raw[suffix])
                height, width = spatial_size(sample) or (None, None)
                fields = sorted(name for name in sample if not name.startswith("__"))
                row = {"key": key, "shard": path.name, "fields": fields, "height": height, "width": width}
                rows.append(row | _sample_statistics(sample))
    except BaseException:
        partial_path.unlink(missing_ok=True)  # never leave a half-written shard behind
        raise
    os.replace(partial_path, path)
    return rows


def write_shards(
    samples: Iterable[tuple[str, dict]], out_dir: Path, split: str, samples_per_shard: int
) -> list[Path]:
    """(key, sample) pairs -> shard paths ``<split>-NNNNNN.tar`` in input order; also writes the manifest."""
    _check_split(split)
    if samples_per_shard < 1:
        raise PixelpredError(f"samples_per_shard must be >= 1, got {samples_per_shard}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    # Shards of an earlier, larger run of this split would otherwise be read as part of it.
    for stale in out_dir.iterdir():
        if _shard_name_pattern(split).fullmatch(stale.name):
            stale.unlink()
    iterator, shards, rows, seen = iter(samples), [], [], set()
    while (first := next(iterator, None)) is not None:
        path = out_dir / f"{split}-{len(shards):06d}.tar"
        shard_samples = itertools.chain([first], itertools.islice(iterator, samples_per_shard - 1))
        rows += _write_tar(path, shard_samples, seen)
        shards.append(path)
    if not shards:
        raise PixelpredError(f"no samples to write for split {split!r} in {out_dir}")
    write_manifest(out_dir, split, rows)
    return shards


def write_manifest(out_dir: Path, split: str, rows: list[dict[str, Any]]) -> Path:
    """(shard directory, split, manifest rows) -> path of the written ``<split>.manifest.parquet``."""
    table = pa.Table.from_pylist(rows, schema=MANIFEST_SCHEMA)
    path = manifest_path(out_dir, split)
    partial_path = path.with_name(path.name + ".partial")
    pq.write_table(table, partial_path, compression="zstd")
    os.replace(partial_path, path)
    return path


def read_manifest(out_dir: Location, split: str, storage: StorageConfig = StorageConfig()) -> pa.Table:
    """(shard directory, split) -> manifest table, one row per sample in shard order."""
    location = child(out_dir, f"{_check_split(split)}.manifest.parquet")
    try:
        return pq.read_table(pa.BufferReader(read_bytes(location, storage)))
    except NotFoundError:
        raise PixelpredError(f"no manifest for split {split!r}: {location} does not exist") from None


def shard_paths(out_dir: Location, split: str, storage: StorageConfig = StorageConfig()) -> list[str]:
    """(shard directory or s3:// prefix, split) -> sorted shard locations; PixelpredError when there are none."""
    if not is_remote(out_dir) and not Path(out_dir).is_dir():
        raise PixelpredError(f"shard directory {out_dir} does not exist (split {split!r})")
    pattern = _shard_name_pattern(_check_split(split))
    paths = [child(out_dir, name) for name in list_names(out_dir, storage) if pattern.fullmatch(name)]
    if not paths:
        raise PixelpredError(f"no shards for split {split!r} in {out_dir} (expected {split}-000000.tar, ...)")
    return paths


def _open_shards(sources: Iterable[dict[str, Any]], storage: StorageConfig,
                 handler: CorruptCounter) -> Iterator[dict[str, Any]]:
    """{'url': location} -> the same with 'stream' open; each stream closes when the next shard is asked for."""
    for source in sources:
        try:
            stream = open_binary(source["url"], storage)
        except Exception as exn:            # a missing shard is re-raised by the handler: a wrong path, not corruption
            if handler(exn):
                continue
            raise
        with stream:
            yield {**source, "stream": stream}


def iterate_samples(
    paths: list[str],
    *,
    shuffle_buffer: int = 0,
    seed: int = 0,
    resampled: bool = False,
    counter: CorruptCounter | None = None,
    required: Collection[str] = (),
    optional: Collection[str] = (),
    storage: StorageConfig = StorageConfig(),
) -> wds.DataPipeline:
    """Shard paths -> iterable of decoded sample dicts; corrupt samples are skipped and counted in counter.

    Evaluation: the defaults, one ordered pass over every shard (no node splitting; evaluation
    runs in one process). Training: ``resampled=True`` draws shards with replacement for an
    infinite stream; the draw is seeded by ``seed`` mixed with the torch rank and DataLoader
    worker id, so pass the run seed (or seed + rank) and every rank reads its own stream.
    ``shuffle_buffer > 0`` also shuffles samples in a buffer of that size (and, when not
    resampled, the shard order). The result is an IterableDataset, usable by a DataLoader.
    """
    if not paths:
        raise PixelpredError("iterate_samples needs at least one shard path")
    handler = counter if counter is not None else CorruptCounter()
    if resampled:
        # webdataset 1.0.2's WebDataset(resampled=True) ignores its seed argument and mixes in
        # time and pid, so the resampler is built here with deterministic seeding.
        stages: list[Any] = [wds.ResampledShards(paths, seed=seed, deterministic=True)]
    else:
        stages = [wds.SimpleShardList(paths, seed=seed if shuffle_buffer > 0 else None), wds.split_by_worker]
    stages += [partial(_open_shards, storage=storage, handler=handler),
               partial(wds.tariterators.tar_file_expander, handler=handler),
               partial(wds.tariterators.group_by_keys, handler=handler)]
    if shuffle_buffer > 0:
        stages.append(wds.shuffle(shuffle_buffer, initial=shuffle_buffer, seed=seed))
    stages.append(wds.map(partial(decode_sample, required=required, optional=optional), handler=handler))
    return wds.DataPipeline(*stages)


def load_split(
    out_dir: Location, split: str, counter: CorruptCounter | None = None, required: Collection[str] = (),
    optional: Collection[str] = (), storage: StorageConfig = StorageConfig(),
) -> list[dict[str, Any]]:
    """(shard directory or s3:// prefix, split) -> every readable sample of the split, in order (small evaluation splits)."""
    counter = counter if counter is not None else CorruptCounter()
    samples = list(iterate_samples(shard_paths(out_dir, split, storage), counter=counter, required=required,
                                   optional=optional, storage=storage))
    if not samples:
        raise PixelpredError(f"split {split!r} in {out_dir} has no readable sample ({counter.count} corrupt)")
    return samples
