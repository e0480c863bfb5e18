"""Loopback services for tests and benchmarks (moto, MLflow servers, Ray heads): started as session leaders on
127.0.0.1, stopped with everything they forked, by session id."""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import threading
import time

import psutil


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
