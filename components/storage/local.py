"""Local outputs: directories that appear whole or not at all (a failed stage leaves no partial files), CSV tables."""
from __future__ import annotations

import csv
import hashlib
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


@contextmanager
def atomic_directory(path: Path) -> Iterator[Path]:
    """Yield a sibling temp dir; on success it replaces `path`, on error it is removed."""
    path = Path(path)
    staging = path.with_name(f".{path.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    shutil.rmtree(path, ignore_errors=True)
    staging.rename(path)


def file_digests(path: Path, algorithms: tuple[str, ...] = ("sha256",)) -> dict[str, str]:
    """Hex digests of a file's bytes, every algorithm in one read ({"sha256": ..., "md5": ...})."""
    digests = {name: hashlib.new(name) for name in algorithms}
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            for digest in digests.values():
                digest.update(block)
    return {name: digest.hexdigest() for name, digest in digests.items()}


def write_csv(path: Path, rows: list[dict]) -> None:
    """Rows of equal keys -> a CSV file with a header (DVC plots read these)."""
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
