"""Loopback services for tests and benchmarks (moto, MLflow servers, Ray heads): started as session leaders on
127.0.0.1, stopped with everything they forked, by session id; a whole loopback cluster made of them; and an
in-process HTTP file server that can drop connections mid-file (for the dataset downloads)."""
from __future__ import annotations

import http.server
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import boto3
import psutil

from components.config import StorageConfig

BIN = Path(sys.executable).parent          # the environment a cluster node's image would have


def free_port() -> int:
    """A TCP port nothing listens on now (for a service that cannot pick its own)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_service(command: list[str], ready: re.Pattern[str], env: dict[str, str] | None = None,
                  ) -> tuple[subprocess.Popen, re.Match]:
    """Start a loopback service as the leader of a new session; wait for the log line matching `ready`.

    Its log keeps being drained in the background, so a chatty server never blocks on a full pipe.
    """
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               start_new_session=True, env=env)
    lines = []
    for line in process.stdout:     # the ready line comes within seconds; a dead process ends the loop
        lines.append(line)
        if match := ready.search(line):
            threading.Thread(target=process.stdout.read, daemon=True).start()
            return process, match
    stop_service(process)
    raise RuntimeError(f"{command[0]} did not start:\n{''.join(lines[-20:])}")


def start_moto() -> tuple[subprocess.Popen, str]:
    """A moto S3 server on 127.0.0.1 at a port it picks -> (process, endpoint URL)."""
    process, match = start_service([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", "0"],
                                   re.compile(r"Running on (http://127\.0\.0\.1:\d+)"))
    return process, match.group(1)


def render_shards(params: Path, root: Path) -> Path:
    """The download and prepare stages with `params`, in subprocesses, into root/raw and root/shards -> shards."""
    cli = [sys.executable, "-m", "pipelines.cli", "--params", str(params)]
    subprocess.run([*cli, "download", "--out", str(root / "raw")], check=True, capture_output=True)
    subprocess.run([*cli, "prepare", "--raw", str(root / "raw"), "--out", str(root / "shards")], check=True,
                   capture_output=True)
    return root / "shards"


def session_processes(leader: int) -> list[int]:
    """Live processes of the session `leader` started: servers fork helpers (MLflow's job consumers), and Ray's
    workers leave its process group but not its session."""
    found = []
    for pid in psutil.pids():
        try:
            if os.getsid(pid) == leader and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                found.append(pid)
        except (ProcessLookupError, PermissionError, psutil.NoSuchProcess):
            continue
    return found


def stop_service(process: subprocess.Popen, grace_s: float = 10) -> None:
    """Stop every process of the service's session (SIGTERM, then SIGKILL after `grace_s`) and reap the leader."""
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5)):
        for pid in session_processes(process.pid):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + wait_s
        while session_processes(process.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if not session_processes(process.pid):
            break
    process.wait(timeout=10)


class LoopbackCluster:
    """moto (session-wide) + an MLflow server with S3 artifacts + a Ray head, on 127.0.0.1, each the leader of a
    session of its own, sharing one environment: the cluster's, with the credentials (an instance role's place)."""

    def __init__(self, tmp_path: Path, storage: StorageConfig, bucket: str, secret: str) -> None:
        self.storage, self.bucket, self.secret = storage, bucket, secret
        self.env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "MLFLOW_S3_ENDPOINT_URL": storage.endpoint_url,
                    "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": uuid.uuid4().hex}
        self.mlflow_db = tmp_path / "server" / "mlflow.db"
        self.mlflow = f"http://127.0.0.1:{free_port()}"
        self.ray_tmp = Path(tempfile.mkdtemp(prefix="pphead-", dir="/tmp"))     # Ray's socket paths must stay short
        self.ray = f"http://127.0.0.1:{free_port()}"
        self.services: list[subprocess.Popen] = []
        self.mlflow_server = self.start_mlflow()
        ports = [str(free_port()) for _ in range(3)]
        self.ray_head = self.start([str(BIN / "ray"), "start", "--head", "--block", "--node-ip-address", "127.0.0.1",
                                    "--dashboard-host", "127.0.0.1", "--dashboard-port", self.ray.rsplit(":", 1)[1],
                                    "--port", ports[0], "--ray-client-server-port", ports[1],
                                    "--dashboard-agent-listen-port", ports[2], "--num-cpus", "2",
                                    "--temp-dir", str(self.ray_tmp), "--disable-usage-stats"], r"Ray runtime started",
                                   # the head's processes find their own state API beside other Ray instances
                                   RAY_API_SERVER_ADDRESS=self.ray)

    def start(self, command: list[str], ready: str, **env: str) -> subprocess.Popen:
        process, _ = start_service(command, re.compile(ready), env={**self.env, **env})
        self.services.append(process)
        return process

    def start_mlflow(self) -> subprocess.Popen:
        return self.start([str(BIN / "mlflow"), "server", "--host", "127.0.0.1", "--port", self.mlflow.rsplit(":", 1)[1],
                           "--workers", "1", "--backend-store-uri", f"sqlite:///{self.mlflow_db}",
                           "--artifacts-destination", f"s3://{self.bucket}/mlflow"], r"Uvicorn running on")

    def stop(self) -> dict[str, list[int]]:
        """Stop every service -> what is left of each (nothing, if they stopped)."""
        for service in self.services:
            stop_service(service, grace_s=3)     # a test cluster needs no graceful shutdown
        shutil.rmtree(self.ray_tmp, ignore_errors=True)
        return {f"{s.args[1]} {s.pid}": session_processes(s.pid) for s in self.services if session_processes(s.pid)}

    def ray_cli(self, *args: str, timeout: float = 240) -> subprocess.CompletedProcess:
        """A `ray` command from a submitter's shell: the token, but neither AWS credentials nor the MLflow URI."""
        env = {k: v for k, v in self.env.items() if not k.startswith(("AWS_", "MLFLOW_"))}
        return subprocess.run([str(BIN / "ray"), *args], env=env, capture_output=True, text=True, timeout=timeout)

    def objects(self, prefix: str) -> list[str]:
        s3 = boto3.client("s3", endpoint_url=self.storage.endpoint_url, region_name="us-east-1")
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        return [o["Key"] for page in pages for o in page.get("Contents", [])]

    def read(self, key: str) -> bytes:
        s3 = boto3.client("s3", endpoint_url=self.storage.endpoint_url, region_name="us-east-1")
        return s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()


class FileServer:
    """Serves files from memory on 127.0.0.1 with byte ranges and ETags, optionally badly.

    `drop` in [0, 1]: the chance that a response stops after a random part of what it promised and the
    connection closes (a dropped link); `ranges=False`: ignores Range and always answers 200 with the whole file.
    Use as a context manager; `url(name)` is a file's address, `requests` counts the GETs served, `bytes_sent` their body bytes.
    """

    def __init__(self, files: dict[str, bytes], drop: float = 0.0, ranges: bool = True, seed: int = 0):
        self.files, self.drop, self.ranges, self.rng = dict(files), drop, ranges, random.Random(seed)
        self.requests = self.bytes_sent = 0
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                server.requests += 1
                data = server.files.get(self.path.lstrip("/"))
                if data is None:
                    self.send_error(404)
                    return
                etag = f'"{hash(data) & 0xFFFFFFFF:08x}"'
                start = 0
                wanted = self.headers.get("Range", "")
                if server.ranges and wanted.startswith("bytes=") and self.headers.get("If-Range", etag) == etag:
                    start = int(wanted[len("bytes="):].partition("-")[0])
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                self.send_response(206 if start else 200)
                if start:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                self.send_header("Content-Length", str(len(data) - start))
                self.send_header("ETag", etag)
                if server.ranges:
                    self.send_header("Accept-Ranges", "bytes")
                self.end_headers()
                body = data[start:]
                dropped = server.rng.random() < server.drop
                if dropped:
                    body = body[:server.rng.randrange(len(body) + 1)]
                # Counted before writing: once written, the client may finish and the test read the count before
                # this thread runs again (seen on a loaded machine).
                server.bytes_sent += len(body)
                self.wfile.write(body)
                if dropped:
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{name}"

    def __enter__(self) -> "FileServer":
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
