"""Dataset sources: each turns a dataset's native files into schema samples (the prepare stage).

The embedded `synth` source also renders its native files; real datasets' files are fetched from their
registry entry (components/data/registry.py) and converted by components/data/native/<converter>.py.
"""
from __future__ import annotations

import importlib
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
from components.data.synth.render import render_view
from components.data.synth.scene import CLASS_NAMES
from components.errors import PixelpredError

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")


class Source(ABC):
    """A dataset's converter: native files of one split -> schema samples. Real datasets' files are fetched
    by the download stage from their registry entry; generated ones (synth) render them (`generate`)."""
    name: str
    class_names: tuple[str, ...]
    splits: tuple[str, ...] = SPLITS     # test-only benchmarks (Set5, LIVE1, ...) have ("test",)

    @abstractmethod
    def samples(self, raw_dir: Path, split: str) -> Iterator[tuple[str, dict | Exception]]:
        """Native files of one split -> (key, schema sample), or (key, error) for an unreadable one."""


class SynthSource(Source):
    """Procedural scenes (SPEC §4.2), rendered to one .npz per view; half indoor, half street."""
    name = "synth"
    class_names = CLASS_NAMES

    def generate(self, raw_dir: Path, config: DataConfig) -> None:
        """Render every split's views into `raw_dir/<split>/<key>.npz`."""
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


def view_seed(seed: int, split: str, index: int) -> int:
    """Disjoint seeds per split so no view appears in two splits."""
    return seed * 10_000_000 + SPLITS.index(split) * 1_000_000 + index


def _render_job(job: tuple[str, int, DataConfig]) -> tuple[str, str, bytes]:
    split, index, config = job
    seed = view_seed(config.seed, split, index)
    view = render_view(seed, config.height, config.width, scene=("indoor", "street")[index % 2],
                       num_annotators=config.num_annotators)
    meta = dict(view.pop("meta"), split=split, source="synth")
    buffer = io.BytesIO()
    # np.savez writes zip entries with a fixed date, so the bytes depend on the arrays only.
    np.savez(buffer, meta=np.array(json.dumps(meta, sort_keys=True)), **view)
    return split, f"synth_{split}_{index:06d}", buffer.getvalue()


def get_source(name: str) -> Source:
    """Dataset name in params.yaml -> its Source: synth, or the converter its registry entry names."""
    from components.data import registry

    if name == SynthSource.name:
        return SynthSource()
    converter = registry.entry(name).converter
    if converter is None:
        raise PixelpredError(f"dataset '{name}' has no converter yet (components/data/registry.yaml: converter: null)")
    source = importlib.import_module(f"components.data.native.{converter}").SOURCE
    if not isinstance(source, Source):
        raise PixelpredError(f"dataset '{name}' is a video dataset: the video_real stage (datasets/dvc.yaml) converts "
                             "its clips, with the real_video params")
    return source
