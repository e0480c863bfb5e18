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

from components.data.shards import manifest_path

DIGEST_CHARS = 16    # MLflow stores dataset digests in a 36-character column


def manifest_digest(shards_dir: Path, split: str) -> str:
    """Shards directory, split -> hex sha256 prefix of its manifest.parquet (deterministic bytes)."""
    return hashlib.sha256(manifest_path(shards_dir, split).read_bytes()).hexdigest()[:DIGEST_CHARS]


def split_dataset(shards_dir: Path, split: str, source_name: str) -> MetaDataset:
    """One prepared split -> an MLflow dataset '<source_name>/<split>' for `mlflow.log_input`."""
    with warnings.catch_warnings():
        # A local path matches MLflow's 'file' and '' artifact schemes alike; both resolve to the same source type.
        warnings.filterwarnings("ignore", message="The specified dataset source can be interpreted in multiple ways")
        source = resolve_dataset_source(str(Path(shards_dir).resolve()))
    return MetaDataset(source, name=f"{source_name}/{split}", digest=manifest_digest(shards_dir, split))
