"""Resumable HTTP(S) downloads: a `.part` file grows across dropped connections and re-runs of the stage.

Each attempt asks for the bytes not yet on disk (`Range: bytes=<n>-`) and, once the server has named a
version of the file (ETag or Last-Modified), only for that version (`If-Range`): a server answering 206
with the matching `Content-Range` is appended to, one answering 200 (no range support, or the file
changed) restarts the part from zero. A failed attempt (connection dropped, timeout, 5xx, 429) retries
after exponential backoff, and the attempt counter resets whenever an attempt made progress, so a long
download over a flaky link finishes as long as bytes keep arriving. The caller verifies the checksum;
this module only guarantees that the finished file has the length the server announced.
"""
from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import requests
from tqdm import tqdm

from components.errors import PixelpredError

log = logging.getLogger(__name__)

CHUNK = 1 << 16     # bytes per read: a dropped connection loses at most the chunk in flight
RETRY_STATUS = {408, 425, 429, 500, 502, 503, 504}


@dataclass(frozen=True)
class HttpSettings:
    attempts: int = 6            # consecutive attempts without progress before giving up
    backoff_s: float = 1.0       # first wait; doubles per failed attempt, capped at 60 s
    timeout_s: float = 30.0      # connect and per-read timeout


class DownloadError(PixelpredError):
    """A URL that could not be fetched (after retries): one line with the URL and the last failure."""


def _validator_path(part: Path) -> Path:
    return part.with_name(part.name + ".json")


def _content_length(response: requests.Response, start: int) -> int | None:
    """Total size of the file from a 200 (Content-Length) or 206 (Content-Range: bytes a-b/total) answer."""
    if response.status_code == 206:
        total = response.headers.get("Content-Range", "").rpartition("/")[2]
        return int(total) if total.isdigit() else None
    length = response.headers.get("Content-Length", "")
    return int(length) if length.isdigit() else None


def _range_start(response: requests.Response) -> int | None:
    """First byte of a 206 answer ('bytes 100-199/200' -> 100), None when the header is missing or odd."""
    unit, _, spec = response.headers.get("Content-Range", "").partition(" ")
    first = spec.partition("-")[0]
    return int(first) if unit == "bytes" and first.isdigit() else None


def _attempt(session: requests.Session, url: str, part: Path, settings: HttpSettings, bar: tqdm) -> int | None:
    """One request: append what arrives to `part`. Returns the file's total size when known."""
    have = part.stat().st_size if part.exists() else 0
    validator_file = _validator_path(part)
    validator = json.loads(validator_file.read_text()).get("validator") if validator_file.exists() and have else None
    headers = {"Accept-Encoding": "identity"}      # byte ranges refer to the stored bytes, not a gzip stream
    if have:
        headers["Range"] = f"bytes={have}-"
        if validator:
            headers["If-Range"] = validator
    with session.get(url, headers=headers, stream=True, timeout=settings.timeout_s) as response:
        if response.status_code == 416 and have:
            # Nothing left to send: the part is complete if the server's size matches it.
            total = response.headers.get("Content-Range", "").rpartition("/")[2]
            if total.isdigit() and int(total) == have:
                return have
            part.unlink()
            raise requests.ConnectionError("range not satisfiable; restarting from zero")
        if response.status_code in RETRY_STATUS:
            raise requests.ConnectionError(f"HTTP {response.status_code}")
        if response.status_code not in (200, 206):
            raise DownloadError(f"{url}: HTTP {response.status_code} {response.reason}")
        if response.status_code == 206 and _range_start(response) != have:
            part.unlink()
            raise requests.ConnectionError("server sent a different range; restarting from zero")
        if response.status_code == 200:
            have = 0                                 # no resume: this answer is the whole file
        total = _content_length(response, have)
        new_validator = response.headers.get("ETag") or response.headers.get("Last-Modified")
        validator_file.write_text(json.dumps({"url": url, "validator": new_validator}))
        bar.reset(total=total)
        bar.update(have)
        with part.open("ab" if have else "wb") as out:
            for chunk in response.iter_content(CHUNK):
                out.write(chunk)
                bar.update(len(chunk))
        size = part.stat().st_size
        if total is not None and size != total:
            raise requests.ConnectionError(f"connection closed at byte {size} of {total}")
        return size


def download(url: str, dest: Path, settings: HttpSettings = HttpSettings()) -> Path:
    """Fetch `url` to `dest` (atomically, via dest + '.part'), resuming whatever an earlier run left."""
    part = dest.with_name(dest.name + ".part")
    dest.parent.mkdir(parents=True, exist_ok=True)
    failures, last_error = 0, ""
    with requests.Session() as session, tqdm(desc=dest.name, unit="B", unit_scale=True, unit_divisor=1024,
                                             disable=None, leave=False) as bar:
        while True:
            before = part.stat().st_size if part.exists() else 0
            try:
                _attempt(session, url, part, settings, bar)
                break
            except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as err:
                last_error = f"{type(err).__name__}: {err}"
            progressed = part.exists() and part.stat().st_size > before
            failures = 1 if progressed else failures + 1
            if failures >= settings.attempts:
                raise DownloadError(f"{url}: gave up after {failures} attempts without progress ({last_error})")
            wait = min(60.0, settings.backoff_s * 2 ** (failures - 1))
            log.info("%s: %s; retrying in %.1f s from byte %d", url, last_error, wait,
                     part.stat().st_size if part.exists() else 0)
            time.sleep(wait)
    os.replace(part, dest)
    _validator_path(part).unlink(missing_ok=True)
    return dest
