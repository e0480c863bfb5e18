"""Dataset sources: the one place where datasets are obtained (download stage) and read back in
their native format (prepare stage). Each source turns its native files into schema samples.

Only the embedded `synth` source exists so far; real datasets (BSDS500, NYUv2, ...) join
`SOURCES` with a download + converter each.
"""
from __future__ import annotations

import io
import json
import logging
import os
import zipfile
from abc import ABC, abstractmethod
from multiprocessing import Pool
from pathlib import Path
from typing import Iterator

import numpy as np
from tqdm import tqdm

from components.config import DataConfig
from components.data import synth
from components.data.synth_scene import CLASS_NAMES
from components.errors import PixelpredError

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")


class Source(ABC):
    name: str
    class_names: tuple[str, ...]

    @abstractmethod
    def obtain(self, raw_dir: Path, config: DataConfig) -> None:
        """Fetch or generate the dataset's native files into `raw_dir`."""

    @abstractmethod
    def samples(self, raw_dir: Path, split: str) -> Iterator[tuple[str, dict | Exception]]:
        """Native files of one split -> (key, schema sample), or (key, error) for an unreadable one."""


class SynthSource(Source):
    """Procedural scenes (SPEC §4.2), rendered to one .npz per view; half indoor, half street."""
    name = "synth"
    class_names = CLASS_NAMES

    def obtain(self, raw_dir: Path, config: DataConfig) -> None:
        jobs = [(split, index, config) for split_index, split in enumerate(SPLITS)
                for index in range(getattr(config.splits, split))]
        for split in SPLITS:
            (raw_dir / split).mkdir(parents=True, exist_ok=True)
        with Pool(config.processes or os.cpu_count()) as pool:
            for split, key, payload in tqdm(pool.imap(_render_job, jobs, chunksize=8), total=len(jobs),
                                            desc="render synth", unit="view"):
                (raw_dir / split / f"{key}.npz").write_bytes(payload)

    def samples(self, raw_dir: Path, split: str) -> Iterator[tuple[str, dict | Exception]]:
        files = sorted((raw_dir / split).glob("*.npz"))
        if not files:
            raise PixelpredError(f"no raw '{split}' samples under {raw_dir} (run the download stage)")
        for path in files:
            try:
                with np.load(path, allow_pickle=False) as arrays:
                    sample = {k: arrays[k] for k in arrays.files if k != "meta"}
                    sample["meta"] = json.loads(str(arrays["meta"]))
                yield path.stem, sample
            except (OSError, ValueError, KeyError, zipfile.BadZipFile) as err:
                yield path.stem, err


def view_seed(config: DataConfig, split: str, index: int) -> int:
    """Disjoint seeds per split so no view appears in two splits."""
    return config.seed * 10_000_000 + SPLITS.index(split) * 1_000_000 + index


def _render_job(job: tuple[str, int, DataConfig]) -> tuple[str, str, bytes]:
    split, index, config = job
    seed = view_seed(config, split, index)
    view = synth.render_view(seed, config.height, config.width, scene=("indoor", "street")[index % 2],
                             num_annotators=config.num_annotators)
    meta = dict(view.pop("meta"), split=split, source="synth")
    buffer = io.BytesIO()
    # np.savez writes zip entries with a fixed date, so the bytes depend on the arrays only.
    np.savez(buffer, meta=np.array(json.dumps(meta, sort_keys=True)), **view)
    return split, f"synth_{split}_{index:06d}", buffer.getvalue()


SOURCES: dict[str, Source] = {source.name: source for source in (SynthSource(),)}


def get_source(name: str) -> Source:
    """Dataset name in params.yaml -> its Source (clear error for unknown names)."""
    if name not in SOURCES:
        raise PixelpredError(f"unknown dataset '{name}' (available: {', '.join(sorted(SOURCES))})")
    return SOURCES[name]
