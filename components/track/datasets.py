"""Prepared splits as MLflow datasets, so the runs table's Dataset column says what a run used.

A split is recorded by reference, not by content: name '<source>/<split>', source = the shards
directory, digest = the sha256 of the split's manifest (which lists every sample key, shard and
statistic, so any change to the split's samples changes it).
"""
from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

from mlflow.data.dataset_source_registry import resolve_dataset_source
from mlflow.data.meta_dataset import MetaDataset

from components.config import StorageConfig
from components.data.shards import manifest_path
from components.storage.location import Location, child, is_remote, read_bytes

DIGEST_CHARS = 16    # MLflow stores dataset digests in a 36-character column


def manifest_digest(shards_dir: Location, split: str, storage: StorageConfig = StorageConfig()) -> str:
    """Shards directory or s3:// prefix, split -> hex sha256 prefix of its manifest.parquet (deterministic bytes)."""
    manifest = read_bytes(child(shards_dir, manifest_path(".", split).name), storage)
    return hashlib.sha256(manifest).hexdigest()[:DIGEST_CHARS]


def split_dataset(shards_dir: Location, split: str, source_name: str,
                  storage: StorageConfig = StorageConfig()) -> MetaDataset:
    """One prepared split -> an MLflow dataset '<source_name>/<split>' for `mlflow.log_input`."""
    with warnings.catch_warnings():
        # A local path matches MLflow's 'file' and '' artifact schemes alike; both resolve to the same source type.
        warnings.filterwarnings("ignore", message="The specified dataset source can be interpreted in multiple ways")
        source = resolve_dataset_source(str(shards_dir) if is_remote(shards_dir) else str(Path(shards_dir).resolve()))
    return MetaDataset(source, name=f"{source_name}/{split}", digest=manifest_digest(shards_dir, split, storage))
