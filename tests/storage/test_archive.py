"""Safe archive extraction (components/storage/archive.py), on archives built here with tarfile/zipfile.

Proves: tar.gz, tar.bz2, tar.xz, a plain tar named `.tgz` and a zip extract byte-exactly, nested directories
included, with modes 0o644/0o755 and the format taken from content, not the name; names with two dots
that are not a `..` component, and `./` prefixes, are accepted. Every unsafe archive is refused as a whole
with UnsafeArchiveError before anything is written: path traversal, absolute and Windows-style names,
links, devices, FIFOs, duplicates and file/dir clashes, encrypted and symlink zip entries, NUL bytes,
declared sizes above the cap, zip bombs by ratio and by overlapping entries. Members whose headers lie
about their size are caught while streaming (by zipfile's CRC check or by the byte count). After any
refusal nothing exists outside dest, dest does not exist and no staging directory is left; an existing
dest and a file that is no archive raise PixelpredError.
"""
from __future__ import annotations

import io
import os
import stat
import tarfile
import warnings
import zipfile
from pathlib import Path

import pytest

from components.errors import PixelpredError
from components.storage.archive import UnsafeArchiveError, extract

CAP = 1 << 30
TREE = {
    "data/top.txt": b"top\n",
    "data/a/b/deep.bin": bytes(range(256)) * 40,
    "data/a/c/empty.txt": b"",
    "data/a..b.txt": b"two dots, not a parent component\n",
}


def write_tar(path: Path, members: list[tuple[tarfile.TarInfo, bytes]], mode: str = "w:gz") -> Path:
    with tarfile.open(path, mode) as tar:
        for info, data in members:
            info.size = len(data) if info.isreg() else 0
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return path


def member(name: str, data: bytes = b"x", kind: bytes = tarfile.REGTYPE,
           linkname: str = "") -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, linkname
    return info, data


def tar_tree(path: Path, mode: str) -> Path:
    dirs = sorted({str(Path(name).parents[i]) for name in TREE for i in range(len(Path(name).parts) - 1)})
    entries = [member(name, kind=tarfile.DIRTYPE) for name in dirs]
    return write_tar(path, entries + [member(name, data) for name, data in TREE.items()], mode)


def write_zip(path: Path, entries: dict[str, bytes] | list[tuple[str | zipfile.ZipInfo, bytes]],
              compression: int = zipfile.ZIP_DEFLATED) -> Path:
    with warnings.catch_warnings(), zipfile.ZipFile(path, "w", compression) as zf:
        warnings.simplefilter("ignore")          # zipfile warns about the duplicate names some tests need
        for name, data in entries.items() if isinstance(entries, dict) else entries:
            zf.writestr(name, data)
    return path


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    (tmp_path / "out" / "x").mkdir(parents=True)
    return tmp_path / "out" / "x" / "dest"


def assert_refused(archive: Path, dest: Path, error: type[Exception] = UnsafeArchiveError, **limits) -> str:
    """Extraction fails; afterwards only the archive and dest's (pre-made) parents exist under tmp_path."""
    tmp_path = dest.parents[2]
    with pytest.raises(error) as caught:
        extract(archive, dest, **{"max_total_bytes": CAP, **limits})
    message = str(caught.value)
    assert len(message.splitlines()) == 1 and str(archive) in message
    left = sorted(str(path.relative_to(tmp_path)) for path in tmp_path.rglob("*"))
    assert left == sorted([str(archive.relative_to(tmp_path)), "out", "out/x"])
    assert not Path("/abs/evil").exists()
    return message


@pytest.mark.parametrize("name, mode", [("t.tar.gz", "w:gz"), ("t.tar.bz2", "w:bz2"), ("t.tar.xz", "w:xz"),
                                        ("benchmark.tgz", "w"), ("t.zip", None)])
def test_good_archives_extract_byte_exactly(tmp_path, dest, name, mode):
    archive = tmp_path / name
    if mode is None:
        write_zip(archive, {"data/": b"", "data/a/": b"", **TREE})
    else:
        tar_tree(archive, mode)
    assert extract(archive, dest, max_total_bytes=CAP) == sorted(TREE)
    for path, data in TREE.items():
        assert (dest / path).read_bytes() == data
        assert stat.S_IMODE((dest / path).stat().st_mode) == 0o644
    assert stat.S_IMODE((dest / "data" / "a" / "b").stat().st_mode) == 0o755
    assert sorted(p.name for p in dest.parent.iterdir()) == ["dest"]     # no staging dir left


def test_dot_slash_prefix_and_root_dir_entry_are_accepted(tmp_path, dest):
    archive = write_tar(tmp_path / "t.tar", [member(".", kind=tarfile.DIRTYPE), member("./a.txt", b"a")], "w")
    assert extract(archive, dest, max_total_bytes=CAP) == ["a.txt"]
    assert (dest / "a.txt").read_bytes() == b"a"


@pytest.mark.parametrize("members, reason", [
    ([member("../evil")], "'..'"),
    ([member("a/../../evil")], "'..'"),
    ([member("/abs/evil")], "absolute"),
    ([member("ok.txt"), member("link", kind=tarfile.SYMTYPE, linkname="ok.txt")], "symlink"),
    ([member("link", kind=tarfile.SYMTYPE, linkname="../../../evil")], "symlink"),
    ([member("ok.txt"), member("hard", kind=tarfile.LNKTYPE, linkname="ok.txt")], "hard link"),
    ([member("tty", kind=tarfile.CHRTYPE)], "character device"),
    ([member("disk", kind=tarfile.BLKTYPE)], "block device"),
    ([member("pipe", kind=tarfile.FIFOTYPE)], "FIFO"),
    ([member("a.txt"), member("./a.txt")], "duplicates"),
    ([member("d", kind=tarfile.DIRTYPE), member("d")], "duplicates"),
    ([member("f"), member("f/x")], "which is a file"),
    ([member("f/x"), member("f")], "inside it"),
    ([member(".")], "archive root"),
])
def test_unsafe_tar_is_refused(tmp_path, dest, members, reason):
    archive = write_tar(tmp_path / "evil.tar.gz", [member("fine.txt")] + members)
    assert reason in assert_refused(archive, dest)


@pytest.mark.parametrize("name, reason", [("../x", "'..'"), ("/x", "absolute"), ("C:/x", "absolute"),
                                          ("C:x", "absolute"), ("a\\..\\x", "backslash"),
                                          ("\\\\server\\x", "backslash"), ("", "archive root")])
def test_unsafe_zip_name_is_refused(tmp_path, dest, name, reason):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("fine.txt", b"x")
        zf.writestr(zipfile.ZipInfo("placeholder"), b"x")
        zf.infolist()[-1].orig_filename = zf.infolist()[-1].filename = name   # ZipInfo would rewrite it
    assert reason in assert_refused(archive, dest)


def test_zip_name_with_nul_is_refused(tmp_path, dest):
    archive = write_zip(tmp_path / "evil.zip", {"aXb.txt": b"x"})
    archive.write_bytes(archive.read_bytes().replace(b"aXb.txt", b"a\x00b.txt"))
    assert "NUL" in assert_refused(archive, dest)


def test_zip_duplicates_symlinks_and_encryption_are_refused(tmp_path, dest):
    duplicate = write_zip(tmp_path / "dup.zip", [("a.txt", b"1"), ("a.txt", b"2")])
    assert "duplicates" in assert_refused(duplicate, dest)
    duplicate.unlink()
    link = zipfile.ZipInfo("link")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    symlink = write_zip(tmp_path / "link.zip", [(link, b"/etc/passwd")])
    assert "symlink" in assert_refused(symlink, dest)
    symlink.unlink()
    encrypted = tmp_path / "enc.zip"
    with zipfile.ZipFile(encrypted, "w") as zf:
        zf.writestr("secret.txt", b"x")
        zf.infolist()[-1].flag_bits |= 0x1       # the central directory then marks it encrypted
    assert "encrypted" in assert_refused(encrypted, dest)


def test_declared_sizes_above_the_cap_are_refused(tmp_path, dest):
    single = write_tar(tmp_path / "big.tar.gz", [member("big.bin", bytes(2000))])
    assert "cap of 1000" in assert_refused(single, dest, max_total_bytes=1000)
    single.unlink()
    # Each header is within the cap; only their sum is not.
    several = write_tar(tmp_path / "many.tar.gz", [member("a.bin", bytes(600)), member("b.bin", bytes(600))])
    assert "'b.bin'" in assert_refused(several, dest, max_total_bytes=1000)
    several.unlink()
    zipped = write_zip(tmp_path / "big.zip", {"big.bin": os.urandom(2000)})
    assert "cap of 1000" in assert_refused(zipped, dest, max_total_bytes=1000)


def test_zip_bomb_is_refused_by_ratio(tmp_path, dest):
    bomb = write_zip(tmp_path / "bomb.zip", {"zeros.bin": bytes(64 << 20)})
    assert "ratio" in assert_refused(bomb, dest)


def test_overlapping_zip_entries_are_refused(tmp_path, dest):
    archive = write_zip(tmp_path / "overlap.zip", {"a.txt": b"a" * 100, "b.txt": b"b" * 100}, zipfile.ZIP_STORED)
    raw = bytearray(archive.read_bytes())
    second = raw.index(b"PK\x01\x02", raw.index(b"PK\x01\x02") + 1)
    raw[second + 42:second + 46] = (0).to_bytes(4, "little")    # b.txt's local header offset -> a.txt's
    archive.write_bytes(bytes(raw))
    assert "overlaps" in assert_refused(archive, dest)


@pytest.mark.parametrize("declared, error", [(50, PixelpredError), (150, UnsafeArchiveError)])
def test_zip_member_lying_about_its_size_is_caught_while_streaming(tmp_path, dest, declared, error):
    """Central directory says `declared` bytes; the stored data has 100 (zipfile's CRC or our count notices)."""
    archive = write_zip(tmp_path / "liar.zip", {"first.txt": b"ok", "liar.bin": os.urandom(100)},
                        zipfile.ZIP_STORED)
    raw = bytearray(archive.read_bytes())
    central = raw.index(b"PK\x01\x02", raw.index(b"PK\x01\x02") + 1)   # liar.bin's entry
    raw[central + 24:central + 28] = declared.to_bytes(4, "little")
    archive.write_bytes(bytes(raw))
    assert_refused(archive, dest, error)


def test_existing_dest_and_non_archives_raise(tmp_path, dest):
    archive = write_tar(tmp_path / "t.tar.gz", [member("a.txt")])
    dest.mkdir()
    with pytest.raises(PixelpredError, match="already exists"):
        extract(archive, dest, max_total_bytes=CAP)
    assert list(dest.iterdir()) == []
    dest.rmdir()
    archive.unlink()
    junk = tmp_path / "data.tar.gz"
    junk.write_bytes(os.urandom(4096))
    assert "neither a tar" in assert_refused(junk, dest, PixelpredError)
