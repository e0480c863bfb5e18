"""S3 objects through boto3: one client per settings and process, retries with backoff, one-line errors.

boto3 is the one S3 library of the project's own code. It is also what MLflow's S3 artifact store uses, and
DVC's S3 remote runs on the same botocore (through s3fs/aiobotocore), so the AWS_* environment, the
credential chain and the endpoint setting mean the same to all three. Ray Train alone needs a pyarrow
filesystem for its storage path: `arrow_filesystem` builds it from the same settings (pyarrow has no
boto3 hook), and it only ever reads and writes Ray's checkpoints.

Credentials come only from the environment (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN, a
profile or an instance role): nothing here accepts or logs them. The endpoint is `storage.endpoint_url`, else
$AWS_ENDPOINT_URL, else AWS itself. Requests retry transient failures (throttling, 5xx, dropped connections)
with botocore's "standard" exponential backoff; a missing bucket or key, refused credentials or an
unreachable endpoint become one PixelpredError line (the last after max_attempts x connect_timeout_s
plus backoff: ~20 s by default).
Object reads stream (no download to disk) and resume from the last byte after a dropped connection.
"""
from __future__ import annotations

import functools
import io
import logging
import os
from pathlib import Path
from typing import Any

import boto3
import botocore.config
import botocore.exceptions
from boto3.exceptions import S3UploadFailedError
from boto3.s3.transfer import TransferConfig

from components.config import StorageConfig
from components.errors import NotFoundError, PixelpredError

log = logging.getLogger(__name__)

SCHEME = "s3://"
CHUNK = 1 << 20     # bytes per streamed read and multipart chunk


def is_s3(location: str | Path) -> bool:
    return str(location).startswith(SCHEME)


def split_uri(uri: str) -> tuple[str, str]:
    """'s3://bucket/some/key' -> ('bucket', 'some/key'); the key may be empty (a bucket or prefix root)."""
    if not is_s3(uri):
        raise PixelpredError(f"not an S3 URI: {uri!r} (expected s3://bucket/key)")
    bucket, _, key = uri[len(SCHEME):].partition("/")
    if not bucket:
        raise PixelpredError(f"S3 URI without a bucket: {uri!r}")
    return bucket, key


def join(uri: str, *parts: str) -> str:
    """s3://bucket/prefix + 'a', 'b' -> s3://bucket/prefix/a/b."""
    return "/".join([uri.rstrip("/"), *(part.strip("/") for part in parts)])


def endpoint_url(config: StorageConfig) -> str | None:
    return config.endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None


def region(config: StorageConfig) -> str:
    return config.region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


@functools.lru_cache(maxsize=8)
def client(config: StorageConfig) -> Any:
    """A boto3 S3 client for these settings (one per process: clients are not picklable, Ray workers make their own)."""
    settings = botocore.config.Config(
        retries={"max_attempts": config.max_attempts, "mode": "standard"},
        connect_timeout=config.connect_timeout_s, read_timeout=config.read_timeout_s,
        s3={"addressing_style": "path"} if endpoint_url(config) else None)
    return boto3.session.Session().client("s3", endpoint_url=endpoint_url(config), region_name=region(config),
                                          config=settings)


def describe(err: Exception, uri: str, config: StorageConfig) -> PixelpredError:
    """A boto3/botocore failure -> one line naming the object, the endpoint and what went wrong."""
    where = f"{uri} (endpoint {endpoint_url(config) or 'AWS'})"
    if isinstance(err, botocore.exceptions.ClientError):
        code = err.response.get("Error", {}).get("Code", "")
        status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code in ("NoSuchBucket",):
            return NotFoundError(f"{where}: the bucket does not exist")
        if code in ("NoSuchKey", "404", "NotFound") or status == 404:
            return NotFoundError(f"{where}: no such object")
        if code in ("AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch") or status == 403:
            return PixelpredError(f"{where}: access denied ({code}); credentials come from the AWS_* environment")
        return PixelpredError(f"{where}: {code or status}")
    if isinstance(err, botocore.exceptions.NoCredentialsError):
        return PixelpredError(f"{where}: no credentials (set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or a profile)")
    if isinstance(err, (botocore.exceptions.EndpointConnectionError, botocore.exceptions.ConnectTimeoutError)):
        return PixelpredError(f"{where}: cannot reach the S3 endpoint after {config.max_attempts} attempts")
    return PixelpredError(f"{where}: {type(err).__name__}: {err}")


FAILURES = (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError)


def check_bucket(uri: str, config: StorageConfig) -> None:
    """Fail early, in one line, when the bucket of `uri` is missing, forbidden or unreachable."""
    bucket, _ = split_uri(uri)
    try:
        client(config).head_bucket(Bucket=bucket)
    except botocore.exceptions.ClientError as err:
        # A HEAD response has no body, so no error code: a bare 404 here is the bucket, not an object.
        if err.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 404:
            raise NotFoundError(f"{SCHEME}{bucket} (endpoint {endpoint_url(config) or 'AWS'}): the bucket does not exist") from None
        raise describe(err, f"{SCHEME}{bucket}", config) from None
    except FAILURES as err:
        raise describe(err, f"{SCHEME}{bucket}", config) from None


def list_names(prefix_uri: str, config: StorageConfig) -> list[str]:
    """Names of the objects directly under s3://bucket/prefix/ (not deeper), sorted."""
    check_bucket(prefix_uri, config)
    bucket, prefix = split_uri(prefix_uri)
    prefix = prefix.rstrip("/") + "/" if prefix else ""
    names = []
    try:
        for page in client(config).get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix, Delimiter="/"):
            names += [item["Key"][len(prefix):] for item in page.get("Contents", [])]
    except FAILURES as err:
        raise describe(err, prefix_uri, config) from None
    return sorted(names)


def read_bytes(uri: str, config: StorageConfig) -> bytes:
    with open_object(uri, config) as stream:
        return stream.read()


class ObjectReader(io.RawIOBase):
    """A readable, forward-only stream over one S3 object that resumes (HTTP Range) after a dropped connection.

    botocore retries a request that fails to start; a body that breaks mid-transfer is reopened here from the
    next unread byte, up to `max_attempts` times in a row, so a long shard read survives a flaky network.
    """

    def __init__(self, uri: str, config: StorageConfig) -> None:
        super().__init__()
        self.uri, self.config = uri, config
        self.bucket, self.key = split_uri(uri)
        self.position, self.size = 0, None
        self.body = self._open()

    def _open(self) -> Any:
        extra = {"Range": f"bytes={self.position}-"} if self.position else {}
        try:
            response = client(self.config).get_object(Bucket=self.bucket, Key=self.key, **extra)
        except FAILURES as err:
            raise describe(err, self.uri, self.config) from None
        if self.size is None:
            self.size = response["ContentLength"]
        return response["Body"]

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.size is not None and self.position >= self.size:
            return 0
        for attempt in range(1, self.config.max_attempts + 1):
            try:
                data = self.body.read(len(buffer))
                break
            except (botocore.exceptions.BotoCoreError, OSError) as err:   # urllib3 errors surface as these
                if attempt == self.config.max_attempts:
                    raise describe(err, self.uri, self.config) from None
                log.warning("%s: read failed at byte %d (%s), resuming", self.uri, self.position, type(err).__name__)
                self.body.close()
                self.body = self._open()
        buffer[:len(data)] = data
        self.position += len(data)
        if not data and self.size is not None and self.position < self.size:
            raise PixelpredError(f"{self.uri}: the connection ended at byte {self.position} of {self.size}")
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self.body.close()
        super().close()


def open_object(uri: str, config: StorageConfig) -> io.BufferedReader:
    """s3://bucket/key -> a buffered binary stream of its bytes (read as it goes; nothing lands on disk)."""
    return io.BufferedReader(ObjectReader(uri, config), buffer_size=CHUNK)


def put_bytes(uri: str, data: bytes, config: StorageConfig) -> None:
    bucket, key = split_uri(uri)
    try:
        client(config).put_object(Bucket=bucket, Key=key, Body=data)
    except FAILURES as err:
        raise describe(err, uri, config) from None


def arrow_filesystem(config: StorageConfig) -> "pyarrow.fs.S3FileSystem":
    """The same settings as a pyarrow filesystem, for Ray Train's storage_filesystem (it takes no boto3 client).

    pyarrow does not read AWS_ENDPOINT_URL, so the endpoint is passed explicitly; credentials still come
    from the environment (pyarrow reads the same AWS_* variables).
    """
    import pyarrow.fs
    from urllib.parse import urlparse

    endpoint = urlparse(endpoint_url(config)) if endpoint_url(config) else None
    return pyarrow.fs.S3FileSystem(
        region=region(config), connect_timeout=config.connect_timeout_s, request_timeout=config.read_timeout_s,
        retry_strategy=pyarrow.fs.AwsStandardS3RetryStrategy(max_attempts=config.max_attempts),
        endpoint_override=endpoint.netloc if endpoint else None, scheme=endpoint.scheme if endpoint else None)


def upload_file(path: Path, uri: str, config: StorageConfig) -> None:
    """Put one local file at `uri` (multipart above CHUNK bytes; botocore retries each part)."""
    bucket, key = split_uri(uri)
    transfer = TransferConfig(multipart_chunksize=8 * CHUNK, use_threads=False)
    try:
        client(config).upload_file(str(path), bucket, key, Config=transfer)
    except (*FAILURES, S3UploadFailedError) as err:
        cause = err.__cause__ if isinstance(err, S3UploadFailedError) and err.__cause__ else err
        raise describe(cause, uri, config) from None
