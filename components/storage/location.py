"""Local paths and s3:// URIs behind one small set of calls, for everything that reads shards and manifests.

A location is a `str` or `Path`: an `s3://bucket/prefix` URI goes to components/storage/s3.py, anything else
is the local filesystem. Directories read are flat (shard directories hold files, not sub-directories).
"""
from __future__ import annotations

import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Iterator

from components.config import StorageConfig
from components.errors import NotFoundError
from components.storage import s3
from components.storage.local import atomic_directory

Location = str | Path


def is_remote(location: Location) -> bool:
    return s3.is_s3(location)


def parse_location(text: str) -> Location:
    """A command-line location: s3:// URIs stay strings (Path would fold their '//'), the rest become Paths."""
    return text if is_remote(text) else Path(text)


def child(directory: Location, name: str) -> str:
    """directory + name, as a string a worker can open (local paths made absolute: workers run elsewhere)."""
    if is_remote(directory):
        return s3.join(str(directory), name)
    return str(Path(directory).resolve() / name)


def list_names(directory: Location, storage: StorageConfig) -> list[str]:
    """File names directly inside `directory`, sorted; PixelpredError when it does not exist."""
    if is_remote(directory):
        return s3.list_names(str(directory), storage)
    directory = Path(directory)
    if not directory.is_dir():
        raise NotFoundError(f"directory {directory} does not exist")
    return sorted(path.name for path in directory.iterdir() if path.is_file())


def open_binary(location: Location, storage: StorageConfig) -> BinaryIO:
    """A readable binary stream: the local file, or the S3 object streamed (not downloaded)."""
    if is_remote(location):
        return s3.open_object(str(location), storage)
    return open(location, "rb")


def read_bytes(location: Location, storage: StorageConfig) -> bytes:
    """The whole file or object (manifests, dataset.json: small files); NotFoundError when it is not there."""
    if is_remote(location):
        return s3.read_bytes(str(location), storage)
    path = Path(location)
    if not path.is_file():
        raise NotFoundError(f"{path} does not exist")
    return path.read_bytes()


def write_bytes(location: Location, data: bytes, storage: StorageConfig) -> None:
    """Write a small file or object whole (local: via a temp file and rename, so readers never see half of it)."""
    if is_remote(location):
        s3.put_bytes(str(location), data, storage)
        return
    path = Path(location)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(path.name + ".partial")
    staging.write_bytes(data)
    staging.replace(path)


def check_writable(location: Location, storage: StorageConfig) -> None:
    """Fail before any work when an s3:// output's bucket is missing or unreachable (local parents are created)."""
    if is_remote(location):
        s3.check_bucket(str(location), storage)


@contextmanager
def output_directory(location: Location, storage: StorageConfig, last: str = "") -> Iterator[Path]:
    """A stage's output directory, whole or not at all: yields a local staging directory that, on success,
    replaces the local directory or is uploaded under the s3:// prefix; on error nothing is written.

    S3 has no rename: the file named `last` (e.g. the model pointer) is uploaded after all the others, so a
    reader that finds it finds the rest.
    """
    if not is_remote(location):
        with atomic_directory(Path(location)) as staging:
            yield staging
        return
    with tempfile.TemporaryDirectory(prefix="pixelpred-out-") as tmp:
        staging = Path(tmp)
        yield staging
        files = sorted((p for p in staging.rglob("*") if p.is_file()), key=lambda p: (p.name == last, str(p)))
        for path in files:
            s3.upload_file(path, s3.join(str(location), path.relative_to(staging).as_posix()), storage)
