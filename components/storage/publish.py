"""Publishing a prepared dataset to S3, and the small local pointer DVC tracks in its place.

DVC cannot track S3 objects as a stage's outputs, so a stage that publishes also writes
`<dataset>.published.json`: the prefix and every object's name, size and sha256. With no publish prefix
configured the pointer records that nothing was published, so the stage's outputs are the same either way.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

from components.config import StorageConfig
from components.storage import s3
from components.storage.local import file_digests
from components.storage.location import write_bytes

log = logging.getLogger(__name__)


def publish(directory: Path, storage: StorageConfig, pointer: Path) -> str:
    """Upload the files of `directory` to <storage.publish>/<directory name>/ (when set), then write `pointer`.

    Returns the published prefix ('' when publishing is off). The pointer is written last and atomically:
    a failed upload leaves the previous pointer (or none), never one naming objects that are not there.
    Object keys are deterministic, so a retry overwrites what a failed attempt left.
    """
    prefix = s3.join(storage.publish, directory.name) if storage.publish else ""
    objects = []
    if prefix:
        s3.check_bucket(prefix, storage)
        files = sorted(p for p in directory.iterdir() if p.is_file())
        for path in files:
            s3.upload_file(path, s3.join(prefix, path.name), storage)
            objects.append({"name": path.name, "size": path.stat().st_size, "sha256": file_digests(path)["sha256"]})
        log.info("published %d files (%.1f MB) to %s", len(objects), sum(o["size"] for o in objects) / 1e6, prefix)
    write_bytes(pointer, (json.dumps({"uri": prefix, "objects": objects}, indent=2) + "\n").encode(), storage)
    return prefix
