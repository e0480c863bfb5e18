"""What `ray job submit --working-dir .` uploads from this checkout: the package Ray builds, its size and contents.

Ray zips the working dir minus its default excludes, every .gitignore and the .rayignore, and its job server
refuses uploads over 100 MiB. This builds the same package with Ray's own packaging code and prints JSON:
    python -m benchmarks.working_dir_upload [DIR] [--keep PACKAGE.zip]
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import zipfile
from collections import Counter
from pathlib import Path

from ray._private import ray_constants
from ray._private.runtime_env.packaging import create_package

REPO = Path(__file__).resolve().parents[1]
RAY_UPLOAD_LIMIT = 100 * 1024 ** 2     # the job server's request size cap (dashboard http_server_head)


def build_package(directory: Path, target: Path) -> Path:
    """The zip `ray job submit --working-dir DIRECTORY` would upload, written to `target`."""
    create_package(str(directory), target, include_gitignore=True,
                   excludes=ray_constants.get_runtime_env_default_excludes())
    return target


def describe(package: Path) -> dict:
    with zipfile.ZipFile(package) as archive:
        members = [m for m in archive.infolist() if not m.is_dir()]
    top = Counter(m.filename.split("/")[0] for m in members)
    largest = max(members, key=lambda m: m.file_size)
    return {"upload_bytes": package.stat().st_size, "upload_mib": round(package.stat().st_size / 1024 ** 2, 3),
            "limit_mib": RAY_UPLOAD_LIMIT // 1024 ** 2, "files": len(members),
            "uncompressed_bytes": sum(m.file_size for m in members), "top_level": dict(sorted(top.items())),
            "largest_file": {"name": largest.filename, "bytes": largest.file_size},
            "names": sorted(m.filename for m in members)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("directory", nargs="?", type=Path, default=REPO)
    parser.add_argument("--keep", type=Path, help="also save the package here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        package = build_package(args.directory, Path(tmp) / "working_dir.zip")
        summary = describe(package)
        if args.keep:
            shutil.copyfile(package, args.keep)
    summary.pop("names")
    json.dump(summary, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
