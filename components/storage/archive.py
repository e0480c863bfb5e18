"""Safe extraction of downloaded dataset archives: tar (any compression, detected from content) and zip.

Python 3.11.7's tarfile `filter="data"` predates the 2025 fixes for its bypasses, and zipfile's `extract`
silently rewrites bad names instead of refusing them, so neither `extractall` is used. Every member is
checked first (names, types, duplicates, declared sizes, zip compression ratios) and one bad member
refuses the whole archive before anything is written. Then each regular member is streamed to a new
file in a staging directory, held to its declared size, and the staging directory becomes `dest` only
when all of it is there: `dest` either does not exist or is complete.
"""
from __future__ import annotations

import logging
import lzma
import os
import re
import stat
import tarfile
import zipfile
import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Callable, Iterable, Iterator

from tqdm import tqdm

from components.errors import PixelpredError
from components.storage.local import atomic_directory

log = logging.getLogger(__name__)

CHUNK = 1 << 20
PROGRESS_MIN_BYTES = 64 << 20                   # smaller archives extract too fast for a bar to help
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")      # first entry, or the end record of an empty zip
ZIP_LOCAL_HEADER = 30                           # fixed part of a zip local file header
DRIVE = re.compile(r"[A-Za-z]:")                # C:/x, C:x: absolute or drive-relative on Windows
TAR_KINDS = {tarfile.SYMTYPE: "symlink", tarfile.LNKTYPE: "hard link", tarfile.CHRTYPE: "character device",
             tarfile.BLKTYPE: "block device", tarfile.FIFOTYPE: "FIFO"}


class UnsafeArchiveError(PixelpredError):
    """An archive refused as a whole: one line naming the archive, the member and what is wrong with it."""


@dataclass(frozen=True)
class _Member:
    raw: str           # the name as stored, for messages
    name: str          # normalised posix path relative to dest; "" is the archive root
    is_dir: bool
    size: int          # declared uncompressed size (0 for directories)
    source: Any        # TarInfo or ZipInfo: what the format's reader opens


def _unsafe(archive: Path, raw: str, reason: str) -> UnsafeArchiveError:
    return UnsafeArchiveError(f"{archive}: member {raw!r} {reason}")


def _normalise(archive: Path, raw: str, zip_name: bool) -> str:
    """Stored name -> relative posix path without '', '.' parts; refuses anything that could leave dest."""
    if "\x00" in raw:
        raise _unsafe(archive, raw, "contains a NUL byte")
    if zip_name and "\\" in raw:                # a separator on Windows: a\..\x, \\server\x
        raise _unsafe(archive, raw, "contains a backslash")
    if raw.startswith("/") or (zip_name and DRIVE.match(raw)):
        raise _unsafe(archive, raw, "is an absolute path")
    parts = [part for part in raw.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise _unsafe(archive, raw, "has a '..' component")
    return "/".join(parts)


def _tar_members(tar: tarfile.TarFile, archive: Path) -> Iterator[_Member]:
    # Lazily: a size cap hit early stops before the rest of a compressed stream is decompressed.
    for info in tar:
        if not (info.isreg() or info.isdir()):
            kind = TAR_KINDS.get(info.type, f"member of type {info.type!r}")
            raise _unsafe(archive, info.name, f"is a {kind}; only regular files and directories are extracted")
        yield _Member(info.name, _normalise(archive, info.name, zip_name=False), info.isdir(),
                      info.size if info.isreg() else 0, info)


def _zip_members(zf: zipfile.ZipFile, archive: Path, max_ratio: float) -> Iterator[_Member]:
    infos = sorted(zf.infolist(), key=lambda info: info.header_offset)
    # Entries sharing compressed bytes multiply a small payload (the overlapping-entry zip bomb).
    for before, after in zip(infos, infos[1:]):
        if after.header_offset < before.header_offset + ZIP_LOCAL_HEADER + before.compress_size:
            raise _unsafe(archive, after.orig_filename, f"overlaps the data of {before.orig_filename!r}")
    for info in zf.infolist():
        raw = info.orig_filename                # .filename is already cut at a NUL byte
        name = _normalise(archive, raw, zip_name=True)
        if info.flag_bits & 0x1:
            raise _unsafe(archive, raw, "is encrypted")
        # Unix mode bits, when the maker set them; the file type may be 0 (zipfile's writestr leaves it so).
        if stat.S_IFMT(info.external_attr >> 16) not in (0, stat.S_IFREG, stat.S_IFDIR):
            raise _unsafe(archive, raw, "is a symlink or special file; only regular files and directories "
                                        "are extracted")
        is_dir = raw.endswith("/")
        if not is_dir and info.file_size > max_ratio * max(info.compress_size, 1):
            raise _unsafe(archive, raw, f"expands {info.file_size} / {info.compress_size} bytes, "
                                        f"above the ratio {max_ratio:g} (zip bomb?)")
        yield _Member(raw, name, is_dir, 0 if is_dir else info.file_size, info)


def _plan(archive: Path, members: Iterable[_Member], max_total_bytes: int) -> list[_Member]:
    """Every member checked against the others and the size cap, before anything is written."""
    plan: list[_Member] = []
    seen: set[str] = set()                      # names of files and explicit directories
    files: set[str] = set()
    parents: set[str] = set()                   # every directory some member lies in
    total = 0
    for member in members:
        if not member.name:
            if member.is_dir:                   # "./" of `tar -C dir .`: dest itself, nothing to do
                continue
            raise _unsafe(archive, member.raw, "names the archive root")
        parts = member.name.split("/")
        ancestors = ["/".join(parts[:end]) for end in range(1, len(parts))]
        if member.name in seen:
            raise _unsafe(archive, member.raw, f"duplicates the path {member.name!r}")
        if not member.is_dir and member.name in parents:
            raise _unsafe(archive, member.raw, "is a file but other members lie inside it")
        if clash := next((ancestor for ancestor in ancestors if ancestor in files), None):
            raise _unsafe(archive, member.raw, f"lies inside {clash!r}, which is a file")
        seen.add(member.name)
        parents.update(ancestors)
        if not member.is_dir:
            files.add(member.name)
            total += member.size
            if total > max_total_bytes:
                raise _unsafe(archive, member.raw, f"brings the declared total to {total} bytes, "
                                                   f"above the cap of {max_total_bytes}")
        plan.append(member)
    return plan


@contextmanager
def _open(archive: Path, max_ratio: float) -> Iterator[tuple[Iterator[_Member], Callable[[Any], IO[bytes]]]]:
    """The archive's members and the function that opens one, by content (SBD's `.tgz` is a plain tar)."""
    with archive.open("rb") as handle:
        magic = handle.read(4)
    if magic in ZIP_MAGIC:
        with zipfile.ZipFile(archive) as zf:
            yield _zip_members(zf, archive, max_ratio), zf.open
        return
    try:
        tar = tarfile.open(archive, "r:*")
    except tarfile.ReadError:
        raise PixelpredError(f"{archive}: neither a tar (of any compression) nor a zip archive") from None
    with tar:
        yield _tar_members(tar, archive), tar.extractfile


def _inside(archive: Path, root: str, path: Path, raw: str) -> None:
    # Defence in depth: staging holds no symlinks, so this only fails if the checks above missed something.
    if os.path.commonpath([root, os.path.realpath(path)]) != root:
        raise _unsafe(archive, raw, "resolves outside the destination")


def _make_dirs(archive: Path, root: str, staging: Path, parts: list[str], raw: str) -> Path:
    directory = staging
    for part in parts:
        directory = directory / part
        _inside(archive, root, directory, raw)
        if not directory.is_dir():
            directory.mkdir()
            directory.chmod(0o755)              # mkdir's mode is narrowed by the umask
    return directory


def _stream(archive: Path, member: _Member, source: IO[bytes], target: Path, bar: tqdm) -> int:
    """One member's bytes -> a new file, held to exactly its declared size (headers can lie)."""
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    os.fchmod(fd, 0o644)
    written = 0
    with source, os.fdopen(fd, "wb") as out:
        # Ask for one byte past the declared size at most, so a lying member costs no extra memory.
        while chunk := source.read(min(CHUNK, member.size + 1 - written)):
            written += len(chunk)
            if written > member.size:
                raise _unsafe(archive, member.raw, f"yields more than its declared {member.size} bytes")
            out.write(chunk)
            bar.update(len(chunk))
    if written != member.size:
        raise _unsafe(archive, member.raw, f"yields {written} bytes, not its declared {member.size}")
    return written


def extract(archive: Path, dest: Path, max_total_bytes: int, max_ratio: float = 1000.0) -> list[str]:
    """Tar or zip `archive` -> new directory `dest` (files 0o644, dirs 0o755); returns the sorted file names."""
    archive, dest = Path(archive), Path(dest)
    if dest.exists() or dest.is_symlink():
        raise PixelpredError(f"{dest}: already exists; remove it to extract {archive} again")
    try:
        with _open(archive, max_ratio) as (members, open_member):
            plan = _plan(archive, members, max_total_bytes)
            # Each member is held to its declared size, so `written` stays within the cap _plan checked.
            total = sum(member.size for member in plan)
            written = 0
            with atomic_directory(dest) as staging, tqdm(
                    total=total, desc=archive.name, unit="B", unit_scale=True, unit_divisor=1024, leave=False,
                    disable=None if total >= PROGRESS_MIN_BYTES else True) as bar:
                staging.chmod(0o755)
                root = os.path.realpath(staging)
                for member in plan:
                    parts = member.name.split("/")
                    if member.is_dir:
                        _make_dirs(archive, root, staging, parts, member.raw)
                        continue
                    target = _make_dirs(archive, root, staging, parts[:-1], member.raw) / parts[-1]
                    _inside(archive, root, target, member.raw)
                    written += _stream(archive, member, open_member(member.source), target, bar)
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError, zlib.error, lzma.LZMAError) as err:
        raise PixelpredError(f"{archive}: cannot extract ({type(err).__name__}: {err})") from err
    names = sorted(member.name for member in plan if not member.is_dir)
    log.info("%s: extracted %d files, %d bytes, to %s", archive.name, len(names), written, dest)
    return names
