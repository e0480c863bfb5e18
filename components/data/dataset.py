"""`dataset.json` beside the shards: the facts about a prepared dataset that models and metrics need."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from components.config import StorageConfig
from components.errors import NotFoundError, PixelpredError
from components.storage.location import Location, child, read_bytes

INFO_FILE = "dataset.json"


@dataclass(frozen=True)
class DatasetInfo:
    source: str
    class_names: tuple[str, ...]
    split_sizes: dict[str, int]
    skipped: dict[str, int]            # corrupt/unreadable samples dropped per split while preparing

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def write(self, shards_dir: Path) -> None:
        (shards_dir / INFO_FILE).write_text(json.dumps(asdict(self), indent=2, sort_keys=True) + "\n")

    @classmethod
    def read(cls, shards_dir: Location, storage: StorageConfig = StorageConfig()) -> "DatasetInfo":
        """From a local shards directory or an s3:// prefix the shards were published to."""
        try:
            raw = json.loads(read_bytes(child(shards_dir, INFO_FILE), storage))
        except NotFoundError:
            raise PixelpredError(f"no prepared dataset at {shards_dir} ({INFO_FILE} missing: run the prepare stage)") from None
        return cls(source=raw["source"], class_names=tuple(raw["class_names"]),
                   split_sizes=raw["split_sizes"], skipped=raw["skipped"])
