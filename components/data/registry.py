"""The dataset registry (registry.yaml beside this file) and fetching a dataset's files into its raw directory.

For each file of a dataset, in order: a file already verified by an earlier run is kept (its size and mtime
still match); otherwise it comes from the S3 mirror (`download.mirror`), then from its URLs (resumable), or,
for a login-gated file, from the user, who is told the exact path to put it at. Every file is checked before
anything is unpacked: its published size and sha256/md5 when the registry has them, and always against the
sha256 the dataset's lock file recorded on the first download. A file that fails its check is deleted and
the next source tried. Archives are then unpacked safely (components/storage/archive.py).
"""
from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

import yaml

from components.config import ConfigError, DownloadConfig, StorageConfig, from_dict
from components.errors import NotFoundError, PixelpredError
from components.storage import archive, http, s3
from components.storage.local import file_digests

log = logging.getLogger(__name__)

REGISTRY_FILE = Path(__file__).with_name("registry.yaml")
STATE_FILE = ".verified.json"       # in the raw dir: what this run already checked and unpacked


@dataclass(frozen=True)
class RegistryFile:
    name: str
    urls: tuple[str, ...] = ()
    manual: str = ""                # how to obtain a login-gated file (then `urls` is empty)
    size: int = 0                   # bytes; 0: not published
    sha256: str = ""
    md5: str = ""
    checksum_source: str = ""       # who publishes the checksum
    unpack: str = ""                # directory under the raw dir to extract the archive into; '': not an archive

    def __post_init__(self) -> None:
        _require(bool(self.urls) != bool(self.manual), f"{self.name}: give exactly one of urls and manual")
        _require("/" not in self.name and not self.name.startswith("."), f"{self.name}: a plain file name")
        _require("/" not in self.unpack and not self.unpack.startswith("."), f"{self.name}: unpack must be a plain name")
        _require(not (self.sha256 or self.md5) or bool(self.checksum_source), f"{self.name}: a checksum needs its source")
        _require(len(self.sha256) in (0, 64) and len(self.md5) in (0, 32), f"{self.name}: malformed checksum")


@dataclass(frozen=True)
class DatasetEntry:
    title: str
    tasks: tuple[str, ...]
    converter: str | None           # module under components.data.native (a Source, or a VideoSource for clips)
    license: str
    splits: str
    disk_gib: float                 # expected disk use, archives plus unpacked files
    files: tuple[RegistryFile, ...] = ()
    homepage: str = ""
    name: str = ""                  # filled from the registry key


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(f"{REGISTRY_FILE.name}: {message}")


def load(path: Path = REGISTRY_FILE) -> dict[str, DatasetEntry]:
    """registry.yaml -> {dataset name: entry}, validated (unknown keys and malformed entries are errors)."""
    raw = yaml.safe_load(path.read_text())["datasets"]
    entries = {}
    for name, fields in raw.items():
        entry = from_dict(DatasetEntry, {**fields, "name": name}, where=f"{path.name}: datasets.{name}")
        names = [f.name for f in entry.files] + [f.unpack for f in entry.files if f.unpack]
        _require(len(names) == len(set(names)), f"{name}: file names and unpack dirs must be distinct")
        entries[name] = entry
    return entries


def entry(name: str) -> DatasetEntry:
    entries = load()
    if name not in entries:
        raise PixelpredError(f"unknown dataset '{name}' (registry: {', '.join(sorted(entries))})")
    return entries[name]


class ChecksumError(PixelpredError):
    """A file whose bytes are not the registry's (or the lock's) ones."""


def _read_json(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {}


def _write_json(path: Path, value: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(value, indent=2, sort_keys=True) + "\n")
    partial.replace(path)


def verify(path: Path, file: RegistryFile, locked: dict | None) -> str:
    """Check `path` against the registry and the lock entry; returns its sha256 (ChecksumError on mismatch)."""
    size = path.stat().st_size
    if file.size and size != file.size:
        raise ChecksumError(f"{path}: {size} bytes, the registry says {file.size}")
    digests = file_digests(path, ("sha256", "md5") if file.md5 else ("sha256",))
    for algorithm in ("sha256", "md5"):
        expected = getattr(file, algorithm)
        if expected and digests[algorithm] != expected.lower():
            raise ChecksumError(f"{path}: {algorithm} {digests[algorithm]}, the registry says {expected} "
                                f"(published by {file.checksum_source})")
    if locked and locked["sha256"] != digests["sha256"]:
        raise ChecksumError(f"{path}: sha256 {digests['sha256']}, the lock recorded {locked['sha256']} on the first "
                            "download (the file changed upstream or is damaged)")
    return digests["sha256"]


def _from_mirror(uri: str, dest: Path, storage: StorageConfig) -> bool:
    """Copy s3://.../<dataset>/<file> to dest; False when the mirror does not have it (or cannot be reached)."""
    part = dest.with_name(dest.name + ".part")
    try:
        with s3.open_object(uri, storage) as stream, part.open("wb") as out:
            shutil.copyfileobj(stream, out, s3.CHUNK)
    except NotFoundError:
        part.unlink(missing_ok=True)
        return False
    except PixelpredError as err:
        part.unlink(missing_ok=True)
        log.warning("mirror unavailable, using the URLs: %s", err)
        return False
    part.replace(dest)
    return True


def _fetch_file(dataset: str, file: RegistryFile, path: Path, locked: dict | None,
                download: DownloadConfig, storage: StorageConfig) -> str | None:
    """Bring one file to `path`, verified. Returns its sha256, or None for a manual file nobody has put there."""
    if path.exists():
        try:
            return verify(path, file, locked)
        except ChecksumError as err:
            if file.manual:
                raise ChecksumError(f"{err}; replace it with the right file") from None
            log.warning("%s; downloading it again", err)
            path.unlink()
    mirror_uri = s3.join(download.mirror, dataset, file.name) if download.mirror else ""
    sources = ([f"mirror {mirror_uri}"] if mirror_uri else []) + list(file.urls)
    failures = []
    for source in sources:
        try:
            if source.startswith("mirror "):
                if not _from_mirror(mirror_uri, path, storage):
                    continue
            else:
                log.info("%s: downloading %s", dataset, source)
                http.download(source, path, http.HttpSettings(download.attempts, download.backoff_s, download.timeout_s))
            sha256 = verify(path, file, locked)
        except (http.DownloadError, ChecksumError) as err:
            failures.append(str(err))
            path.unlink(missing_ok=True)
            continue
        if mirror_uri and download.mirror_upload and not source.startswith("mirror "):
            s3.upload_file(path, mirror_uri, storage)
            log.info("%s: put %s into the mirror %s", dataset, file.name, mirror_uri)
        return sha256
    if file.manual and not failures:
        return None
    raise PixelpredError(f"{dataset}: could not obtain {file.name}: " + "; ".join(failures or ["no source"]))


def fetch(dataset: DatasetEntry, raw_dir: Path, lock_file: Path, download: DownloadConfig,
          storage: StorageConfig) -> None:
    """Fetch, verify and unpack every file of `dataset` into `raw_dir`. A second run does nothing new.

    `lock_file` (datasets/locks/<dataset>.json) records each file's sha256 and size on first download and is
    checked ever after, also for files whose checksum the registry has.
    """
    raw_dir.mkdir(parents=True, exist_ok=True)
    state_path = raw_dir / STATE_FILE
    state, lock = _read_json(state_path), _read_json(lock_file)
    missing_manual = []
    for file in dataset.files:
        path = raw_dir / file.name
        known = state.get(file.name)
        stat = path.stat() if path.exists() else None
        if not (known and stat and [stat.st_size, stat.st_mtime_ns] == known["stat"]):
            sha256 = _fetch_file(dataset.name, file, path, lock.get(file.name), download, storage)
            if sha256 is None:
                missing_manual.append(f"put {file.name} at {path.resolve()} ({file.manual})")
                continue
            stat = path.stat()
            known = state[file.name] = {"sha256": sha256, "stat": [stat.st_size, stat.st_mtime_ns], "unpacked": ""}
            if file.name not in lock:
                lock[file.name] = {"sha256": sha256, "size": stat.st_size}
                _write_json(lock_file, lock)
                log.info("%s: recorded sha256 %s of %s in %s", dataset.name, sha256, file.name, lock_file)
            _write_json(state_path, state)
        if file.unpack and not (known["unpacked"] == known["sha256"] and (raw_dir / file.unpack).is_dir()):
            shutil.rmtree(raw_dir / file.unpack, ignore_errors=True)
            archive.extract(path, raw_dir / file.unpack, max_total_bytes=int(download.max_unpacked_gib * 2**30))
            known["unpacked"] = known["sha256"]
            _write_json(state_path, state)
    if missing_manual:
        raise NotFoundError(f"{dataset.name} needs {len(missing_manual)} file(s) that cannot be downloaded "
                            "automatically: " + "; ".join(missing_manual))
    log.info("%s: %d file(s) verified in %s", dataset.name, len(dataset.files), raw_dir)
