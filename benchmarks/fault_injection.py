"""Fault injection, many trials: what the test suite checks once, repeated with random timing, on loopback.

    python -m benchmarks.fault_injection [--trials 10] [--out benchmarks/results/fault_injection.json]

Scenarios (each on the tiny synth dataset, a fresh store and run per trial):
  worker_kill     a Ray Train worker SIGKILLed at a random step: the stage resumes from the last checkpoint and
                  ends at the same final step with every step in its MLflow history
  driver_kill     the stage (driver, its local Ray, the workers) SIGKILLed after a random checkpoint reached S3:
                  running it again resumes the same Ray Train run and MLflow run
  mlflow_down     the MLflow server unreachable at start -> seconds to the error line; and gone mid-run for good
                  -> the stage fails with one line once training ends (reconnect timeout), and a re-run with the
                  server back resumes at the final checkpoint, logs what waited there and registers
  s3_down         an S3 endpoint that does not answer -> seconds to the error line, no outputs
Prints JSON and writes it to --out with the machine's CPU model.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import boto3
import psutil
import yaml
from mlflow import MlflowClient

from benchmarks.machine_speed import cpu_model
from tests.conftest import S3_CREDENTIALS, TINY_PARAMS
from tests.services import free_port, render_shards, start_moto, start_service, stop_service

MODEL = "depth_baseline"
STEPS = 30


def stage(workdir: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "pipelines.cli", "--params", str(workdir / "params.yaml"), *args]


def write_params(workdir: Path, **sections) -> None:
    params = copy.deepcopy(TINY_PARAMS)
    params["ray"].update(max_failures=3, cpus_per_worker=1)
    params["models"][MODEL]["train"].update(steps=STEPS, checkpoint_every=5, log_every=1)
    for name, values in sections.items():
        params[name] = {**params.get(name, {}), **values}
    (workdir / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def train(workdir: Path, shards: Path | str, **popen) -> subprocess.Popen:
    return subprocess.Popen(stage(workdir, "train", MODEL, "--shards", str(shards), "--out", "out"), cwd=workdir,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **popen)


def logged_steps(client: MlflowClient) -> tuple[str, list[int]]:
    """(run id, train/loss steps) of the one run in the store, ('', []) before it exists."""
    try:
        runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    except Exception:        # the store is being created
        return "", []
    if not runs:
        return "", []
    return runs[0].info.run_id, [m.step for m in client.get_metric_history(runs[0].info.run_id, "train/loss")]


def wait_for(condition, timeout_s: float, what: str, poll_s: float = 0.2):
    deadline = time.monotonic() + timeout_s
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(poll_s)
    return value


def train_workers(driver_pid: int) -> list[psutil.Process]:
    """Ray Train worker processes started on behalf of the stage (a local Ray: the driver's descendants)."""
    found = []
    for proc in psutil.Process(driver_pid).children(recursive=True):
        try:
            if "RayTrainWorker" in " ".join(proc.cmdline()):
                found.append(proc)
        except psutil.NoSuchProcess:
            continue
    return found


def worker_kill(workdir: Path, shards: Path, rng: random.Random) -> dict:
    write_params(workdir)
    client = MlflowClient(f"sqlite:///{workdir}/mlflow/mlflow.db")
    kill_at = rng.randint(3, STEPS - 3)
    tic = time.monotonic()
    driver = train(workdir, shards)
    run_id, _ = wait_for(lambda: (s := logged_steps(client))[1] and max(s[1]) >= kill_at and s, 300, "no progress")
    workers = train_workers(driver.pid)
    for worker in workers:
        worker.send_signal(signal.SIGKILL)
    output, _ = driver.communicate(timeout=600)
    run = client.get_run(run_id)
    steps = logged_steps(client)[1]
    final = json.loads((workdir / "out" / "metrics.json").read_text())["step"] if driver.returncode == 0 else None
    trial = {"killed_at_logged_step": kill_at, "workers_killed": len(workers), "returncode": driver.returncode,
             "final_step": final, "resumed_from_step": int(run.data.tags.get("resumed_from_step", -1)),
             "history_complete": set(range(1, STEPS + 1)) <= set(steps), "wall_s": round(time.monotonic() - tic, 1),
             **({} if driver.returncode == 0 else {"output": output[-1500:]})}
    return {**trial, "ok": worker_kill_ok(trial)}


def worker_kill_ok(trial: dict) -> bool:
    """Finished at the final step with every step logged, after resuming from a checkpoint (every 5 steps) at or
    before the kill (step 0: killed before the first checkpoint)."""
    resumed = trial["resumed_from_step"]
    return (trial["returncode"] == 0 and trial["final_step"] == STEPS and trial["history_complete"]
            and trial["workers_killed"] > 0 and resumed % 5 == 0 and 0 <= resumed <= trial["killed_at_logged_step"])


def driver_kill(workdir: Path, shards: Path, rng: random.Random, endpoint: str) -> dict:
    bucket = f"faults-{os.getpid()}-{rng.randrange(10 ** 9)}"
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket=bucket)
    write_params(workdir, ray={"storage_path": f"s3://{bucket}/ray"}, storage={"endpoint_url": endpoint})
    checkpoints_before_kill = rng.randint(1, STEPS // 5 - 1)       # of the run's 6 (every 5 steps)
    seen: set[str] = set()         # Ray keeps the last 2 checkpoints: count every one that ever reached S3

    def checkpoints() -> int:
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="ray/").get("Contents", [])]
        seen.update(k.split("/checkpoint_")[1].split("/")[0] for k in keys if "/checkpoint_" in k)
        return len(seen)

    tic = time.monotonic()
    driver = train(workdir, shards, start_new_session=True)
    wait_for(lambda: checkpoints() >= checkpoints_before_kill or driver.poll() is not None, 300, "no checkpoint")
    killed = driver.poll() is None
    os.killpg(driver.pid, signal.SIGKILL)
    driver.communicate()
    again = train(workdir, shards)
    output, _ = again.communicate(timeout=600)
    client = MlflowClient(f"sqlite:///{workdir}/mlflow/mlflow.db")
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    steps = logged_steps(client)[1]
    return {"checkpoints_before_kill": checkpoints_before_kill, "killed_mid_run": killed,
            "returncode": again.returncode, "resumed": "resuming Ray Train run" in output, "mlflow_runs": len(runs),
            "resumed_from_step": int(runs[0].data.tags.get("resumed_from_step", -1)) if runs else None,
            "history_complete": set(range(1, STEPS + 1)) <= set(steps), "wall_s": round(time.monotonic() - tic, 1),
            "ok": again.returncode == 0 and "resuming Ray Train run" in output and len(runs) == 1
            and set(range(1, STEPS + 1)) <= set(steps)}


def timed_error(command: list[str], cwd: Path) -> dict:
    tic = time.monotonic()
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=120)
    lines = done.stderr.strip().splitlines()
    return {"seconds_to_error": round(time.monotonic() - tic, 1), "returncode": done.returncode,
            "error_line": lines[-1] if lines else "", "no_outputs": not (cwd / "out").exists(),
            "ok": done.returncode == 2 and lines and "error:" in lines[-1] and not (cwd / "out").exists()
            and time.monotonic() - tic <= 30}


def mlflow_server(workdir: Path, port: int) -> subprocess.Popen:
    process, _ = start_service([sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
                                "--workers", "1", "--backend-store-uri", f"sqlite:///{workdir}/server.db",
                                "--artifacts-destination", str(workdir / "artifacts")], re.compile("Uvicorn running on"))
    return process


def mlflow_down_mid_run(workdir: Path, shards: Path) -> dict:
    """Server gone after a few steps and not back before the reconnect timeout; then back for a re-run."""
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    write_params(workdir, tracking={"uri": uri, "reconnect_timeout_s": 10})
    server = mlflow_server(workdir, port)
    client = MlflowClient(uri)
    driver = train(workdir, shards)
    run_id, _ = wait_for(lambda: (s := logged_steps(client))[1] and max(s[1]) >= 3 and s, 300, "no progress")
    stop_service(server)
    tic = time.monotonic()
    output, _ = driver.communicate(timeout=600)
    failed = {"returncode": driver.returncode, "seconds_after_outage": round(time.monotonic() - tic, 1),
              "error_line": output.strip().splitlines()[-1], "no_outputs": not (workdir / "out").exists()}
    server = mlflow_server(workdir, port)
    try:
        again = train(workdir, shards)
        output, _ = again.communicate(timeout=600)
        steps = sorted(m.step for m in MlflowClient(uri).get_metric_history(run_id, "train/loss"))
        registered = MlflowClient(uri).get_model_version_by_alias(MODEL, "champion").run_id == run_id
    finally:
        stop_service(server)
    return {"outage": failed, "rerun_returncode": again.returncode, "rerun_resumed": "resuming Ray Train run" in output,
            "history_complete": steps == list(range(1, STEPS + 1)), "registered_same_run": registered,
            "ok": failed["returncode"] == 2 and "still unreachable" in failed["error_line"] and failed["no_outputs"]
            and again.returncode == 0 and steps == list(range(1, STEPS + 1)) and registered}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=10, help="worker_kill trials (driver_kill: a third of them)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/fault_injection.json"))
    args = parser.parse_args()
    rng = random.Random(args.seed)
    os.environ.update({"RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0", "MLFLOW_DISABLE_TELEMETRY": "true",
                       **S3_CREDENTIALS})
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    results: dict = {"cpu_model": cpu_model(), "cores": os.cpu_count(), "steps": STEPS, "seed": args.seed}
    with tempfile.TemporaryDirectory(prefix="ppfault-", dir="/tmp") as tmp:
        root = Path(tmp)
        os.environ["RAY_TMPDIR"] = str(root / "ray")
        (root / "data").mkdir()
        write_params(root / "data")
        shards = render_shards(root / "data" / "params.yaml", root / "data")

        def trial_dir(name: str) -> Path:
            return Path(tempfile.mkdtemp(prefix=f"{name}-", dir=root))

        moto, endpoint = start_moto()
        try:
            scenarios = {
                "worker_kill": [worker_kill(trial_dir("worker"), shards, rng) for _ in range(args.trials)],
                "driver_kill": [driver_kill(trial_dir("driver"), shards, rng, endpoint)
                                for _ in range(max(1, args.trials // 3))],
            }
        finally:
            stop_service(moto)
        down = trial_dir("mlflow-start")
        write_params(down, tracking={"uri": f"http://127.0.0.1:{free_port()}"})
        scenarios["mlflow_down_at_start"] = timed_error(stage(down, "train", MODEL, "--shards", str(shards), "--out", "out"), down)
        scenarios["mlflow_down_mid_run"] = mlflow_down_mid_run(trial_dir("mlflow-mid"), shards)
        s3_down = trial_dir("s3")
        write_params(s3_down, storage={"endpoint_url": f"http://127.0.0.1:{free_port()}"})
        scenarios["s3_down"] = timed_error(stage(s3_down, "train", MODEL, "--shards", "s3://bucket/shards", "--out", "out"),
                                           s3_down)
    for name, outcome in scenarios.items():
        trials = outcome if isinstance(outcome, list) else [outcome]
        results[name] = {"passed": sum(t["ok"] for t in trials), "trials": len(trials), "details": outcome}
    text = json.dumps(results, indent=2)
    args.out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
