"""`dvc repro` end to end on a tiny params copy: everything runs, a second repro runs nothing,
a change to one model's params re-runs only that model's stages (and the report), the pages link
only images that exist, and `dvc plots show` loads every plot both dvc.yaml files declare."""
from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import boto3
import numpy as np
import pytest
import yaml

from tests.conftest import REPO, TINY_PARAMS, write_params

pytestmark = [pytest.mark.slow, pytest.mark.ray]

# Every model the top-level plots read (boundary PR curve; PFF vs residual CNN on JPEG), plus the
# depth model the loss claim retrains.
MODELS = ("boundary_baseline", "depth_baseline", "pff_jpeg", "cnn_residual_jpeg", "mgpff")
IMAGE_LINK = re.compile(r"!\[[^\]]*\]\(([^)]+)\)")


def dvc(workdir: Path, *args: str, cluster: bool = False) -> str:
    """Run `dvc ARGS` in workdir -> its stdout; with `cluster`, as `make repro` runs it: under `pixelpred cluster`,
    one local Ray cluster that every training stage attaches to."""
    bin_dir = Path(sys.executable).parent
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    command = [str(bin_dir / "dvc"), *args]
    if cluster:
        command = [str(bin_dir / "pixelpred"), "cluster", "--", *command]
    result = subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def ran_stages(output: str) -> set[str]:
    return set(re.findall(r"Running stage '([^']+)'", output))


def linked_images(page: Path) -> list[Path]:
    """A Markdown page -> the files its image links point at, resolved against the page's directory."""
    return [page.parent / link for link in IMAGE_LINK.findall(page.read_text())]


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    workdir = tmp_path_factory.mktemp("dvcproject")
    shutil.copy(REPO / "dvc.yaml", workdir)
    (workdir / "experiments").mkdir()
    shutil.copy(REPO / "experiments" / "dvc.yaml", workdir / "experiments")
    for package in ("components", "pipelines"):
        shutil.copytree(REPO / package, workdir / package, ignore=shutil.ignore_patterns("__pycache__"))
    params = copy.deepcopy(TINY_PARAMS)
    # A restoration model the tiny params lack trains like its PFF twin (same data, budget, optimiser).
    params["models"] = {name: copy.deepcopy(params["models"].get(name) or params["models"]["pff_jpeg"])
                        for name in MODELS}
    params["experiments"] = {"seeds": [0], "claims": {
        "depth_loss": {"vary": "loss", "model": "depth_baseline", "variants": ["l1_l2", "l1"]},
        "normal_loss": {"vary": "loss", "model": "normal_baseline", "variants": []},   # an empty matrix: no stages
        "boundary_loss": {"vary": "loss", "model": "boundary_baseline", "variants": []},
        "pff_vs_cnn_deblur": {"vary": "architecture", "model": "pff_deblur", "variants": []},
        "pff_vs_cnn_jpeg": {"vary": "architecture", "model": "pff_jpeg", "variants": ["pff_jpeg"]},
        "pff_vs_cnn_sr": {"vary": "architecture", "model": "pff_sr", "variants": []},
        "jpeg_mixed_quality": {"vary": "jpeg_quality", "model": "pff_jpeg", "variants": ["10"]},
        "mgpff_vs_flownet": {"vary": "model", "model": "mgpff", "variants": []},
        "filter_vs_offset_flow": {"vary": "alpha", "model": "pff_flow",
                                  "variants": ["pff_flow_alpha0.5", "offset_flow_alpha0.5"]}},
        "models": {"pff_flow": {"data": "video", "backbone": {"layers": [1, 1, 1, 1], "width": 4},
                                "loss": {"kind": "reconstruction"},
                                "train": {"steps": 2, "batch_size": 2, "checkpoint_every": 2, "log_every": 2,
                                          "optim": {"name": "adam", "lr": 0.001, "schedule": "constant"}}}}}
    write_params(workdir, params)
    dvc(workdir, "init", "--no-scm", "-q")
    return workdir


def test_repro_then_noop_then_one_model(project):
    first = dvc(project, "repro", cluster=True)
    expected = {"download", "prepare", "degrade", "panoramas", "video", "report"} | {
        f"{s}@{m}" for s in ("train", "evaluate") for m in MODELS}
    assert ran_stages(first) == expected
    report = (project / "results" / "report.md").read_text()
    assert all(f"### {m}" in report for m in MODELS) and "trivial" in report
    images = linked_images(project / "results" / "report.md")
    assert all(path.is_file() for path in images), [p for p in images if not p.is_file()]
    assert {"boundary_baseline/pr_curve.png", "pff_jpeg/quality_curve.png", "pff_jpeg/filter_flow.png",
            "depth_baseline/panel.png", "depth_baseline/training_curve.png"} <= {
        path.relative_to(project / "results" / "report_figures").as_posix() for path in images}
    pointer = yaml.safe_load((project / "results/train/boundary_baseline/model.json").read_text())
    assert pointer["name"] == "boundary_baseline" and pointer["version"] == "1"

    assert ran_stages(dvc(project, "repro")) == set()

    params = yaml.safe_load((project / "params.yaml").read_text())
    params["models"]["depth_baseline"]["train"]["steps"] = 6
    write_params(project, params)
    third = dvc(project, "repro", cluster=True)
    assert ran_stages(third) == {"train@depth_baseline", "evaluate@depth_baseline", "report"}
    pointer = yaml.safe_load((project / "results/train/depth_baseline/model.json").read_text())
    assert pointer["version"] == "2"                  # a new registered version, which evaluation used
    summary = yaml.safe_load((project / "results/evaluate/depth_baseline/metrics.json").read_text())
    assert summary["registered"]["version"] == "2"


def test_a_second_machine_pulls_the_trained_state_from_an_s3_remote(project, s3_bucket, tmp_path):
    """Right after the repro test (later tests edit params.yaml). `dvc push` to an S3 remote (moto on loopback, endpoint in the remote's config), then a copy with no
    cache and no outputs pulls data, checkpoints and results and has nothing to retrain. The MLflow store
    travels as a shared tracking server would serve it: DVC carries files, the registry is the server's."""
    storage, bucket = s3_bucket
    dvc(project, "remote", "add", "--local", "-f", "s3", f"s3://{bucket}/dvc")
    dvc(project, "remote", "modify", "--local", "s3", "endpointurl", storage.endpoint_url)
    dvc(project, "push", "-r", "s3")
    s3 = boto3.client("s3", endpoint_url=storage.endpoint_url, region_name="us-east-1")
    assert s3.list_objects_v2(Bucket=bucket, Prefix="dvc/").get("KeyCount", 0) > 0

    # What git would give the second machine: sources, dvc.lock, pointers and metrics, no DVC-cached outputs.
    cached = shutil.ignore_patterns("cache", "tmp", "checkpoint.pt", "plots", "config.local", ".ray")
    second = tmp_path / "second"
    shutil.copytree(project, second, ignore=lambda d, names: cached(d, names) | (
        {n for n in names if not n.endswith(".published.json")} if Path(d) == project / "data" else set()))
    assert not (second / "data" / "shards").exists()
    dvc(second, "remote", "add", "--local", "-f", "s3", f"s3://{bucket}/dvc")
    dvc(second, "remote", "modify", "--local", "s3", "endpointurl", storage.endpoint_url)
    dvc(second, "pull", "-r", "s3")
    assert (second / "data" / "shards" / "dataset.json").is_file()
    assert (second / "results" / "train" / "depth_baseline" / "checkpoint.pt").is_file()
    assert (second / "results" / "evaluate" / "pff_jpeg" / "plots" / "panel.png").is_file()
    assert json.loads(dvc(second, "status", "dvc.yaml", "--json")) == {}     # the main pipeline is up to date
    assert ran_stages(dvc(second, "repro")) == set()


def test_restore_cli_runs_the_registered_model_tile_by_tile(project, tmp_path):
    from PIL import Image
    image = np.random.default_rng(0).integers(0, 256, (70, 90, 3), dtype=np.uint8)   # not a multiple of any tile
    Image.fromarray(image).save(tmp_path / "in.png")
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    run = subprocess.run([sys.executable, "-m", "pipelines.cli", "restore", "--model", "pff_jpeg@champion",
                          str(tmp_path / "in.png"), str(tmp_path / "out.png"), "--tile", "32", "--margin", "32"],
                         cwd=project, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    restored = np.asarray(Image.open(tmp_path / "out.png"))
    flow_map = np.asarray(Image.open(tmp_path / "out.flow.png"))
    assert restored.shape == flow_map.shape == image.shape
    # Near-identity after a few steps: the restored image stays close to its input.
    assert np.abs(restored.astype(int) - image).mean() < 20

    bad = subprocess.run([sys.executable, "-m", "pipelines.cli", "restore", "--model", "pff_jpeg",
                          str(tmp_path / "in.png"), str(tmp_path / "bad.png")],
                         cwd=project, env=env, capture_output=True, text=True, timeout=600)
    assert bad.returncode == 2 and "NAME@ALIAS" in bad.stderr and not (tmp_path / "bad.png").exists()


def test_flow_cli_writes_a_flo_file_from_the_registered_video_model(project, tmp_path):
    from PIL import Image

    from components.data.flo import read_flo
    rng = np.random.default_rng(0)
    first = rng.integers(0, 256, (40, 60, 3), dtype=np.uint8)
    second = np.roll(first, 2, axis=1)                                   # not multiples of the model's 16
    Image.fromarray(first).save(tmp_path / "a.png")
    Image.fromarray(second).save(tmp_path / "b.png")
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")

    def flow(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "pipelines.cli", "flow", *args], cwd=project, env=env,
                              capture_output=True, text=True, timeout=600)

    run = flow(str(tmp_path / "a.png"), str(tmp_path / "b.png"), str(tmp_path / "out.flo"), "--tile", "32",
               "--margin", "16")
    assert run.returncode == 0, run.stderr[-3000:]
    assert read_flo(tmp_path / "out.flo").shape == (40, 60, 2)
    assert np.asarray(Image.open(tmp_path / "out.png")).shape == (40, 60, 3)
    wrong = flow(str(tmp_path / "a.png"), str(tmp_path / "b.png"), str(tmp_path / "x.flo"), "--model", "pff_jpeg@champion")
    assert wrong.returncode == 2 and "not a video model" in wrong.stderr and not (tmp_path / "x.flo").exists()
    png = flow(str(tmp_path / "a.png"), str(tmp_path / "b.png"), str(tmp_path / "x.png"))
    assert png.returncode == 2 and "must be a .flo file" in png.stderr


def test_edit_cli_blends_a_patch_three_ways_with_the_registered_mgpff(project, tmp_path):
    from PIL import Image
    rng = np.random.default_rng(1)
    target = np.clip(rng.normal(120, 20, (48, 64, 3)), 0, 255).astype(np.uint8)
    source = np.full((20, 20, 3), (230, 20, 20), np.uint8)
    mask = np.zeros((20, 20), np.uint8)
    mask[5:15, 5:15] = 255
    for name, image in (("t.png", target), ("s.png", source), ("m.png", mask)):
        Image.fromarray(image).save(tmp_path / name)
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    run = subprocess.run([sys.executable, "-m", "pipelines.cli", "edit", *(str(tmp_path / n) for n in ("t.png", "s.png", "m.png")),
                          str(tmp_path / "out.png"), "--at", "20", "10"],
                         cwd=project, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    edited = np.asarray(Image.open(tmp_path / "out.png"))
    assert edited.shape == target.shape
    np.testing.assert_array_equal(edited[:10], target[:10])          # outside the patch: the target
    # target | pasted | alpha | Poisson | mgPFF, with 2-px gutters.
    assert np.asarray(Image.open(tmp_path / "out.panel.png")).shape == (48, 5 * 64 + 4 * 2, 3)


def test_a_clone_without_weights_or_registry_retrains(project, tmp_path):
    """A fresh clone of a repo with a committed dvc.lock: pointers and metrics in git, the shards
    re-rendered byte for byte, but no DVC cache and no MLflow store. The pointers name registry
    versions that store lacks, so training must be stale (the cached checkpoint is what says so)."""
    clone = tmp_path / "clone"
    shutil.copytree(project, clone, ignore=shutil.ignore_patterns("cache", "mlflow", "checkpoint.pt", "plots"))
    status = json.loads(dvc(clone, "status", "--json"))
    for model in MODELS:
        assert "checkpoint.pt" in json.dumps(status.get(f"train@{model}")), status


def test_claims_experiments_pipeline(project):
    output = dvc(project, "repro", "experiments/dvc.yaml", cluster=True)
    assert {"experiments/dvc.yaml:ablate_depth_loss@l1_l2-0", "experiments/dvc.yaml:ablate_depth_loss@l1-0",
            "experiments/dvc.yaml:ablate_pff_vs_cnn_jpeg@pff_jpeg-0", "experiments/dvc.yaml:ablate_jpeg_mixed_quality@10-0",
            "experiments/dvc.yaml:claims"} <= ran_stages(output)
    claims = yaml.safe_load((project / "results" / "claims.json").read_text())
    depth = claims["depth_loss"]
    assert depth["seeds"] == [0] and set(depth["variants"]) == {"l1_l2", "l1", "trivial"}
    assert isinstance(depth["holds"], bool) and depth["verdict"].startswith("delta1: l1_l2")
    # A model claim: the variant is a model trained on the restoration data, beside the degraded input.
    jpeg = claims["pff_vs_cnn_jpeg"]
    assert set(jpeg["variants"]) == {"pff_jpeg", "trivial"} and "psnr_q10" in jpeg["variants"]["trivial"]
    # A JPEG-quality claim: trained on QF 10 only, scored at every QF; its curves feed the Fig 6.4 plots.
    run = json.loads((project / "results/claims/jpeg_mixed_quality-10-s0/metrics.json").read_text())
    assert run["registered"]["name"] == "claims-jpeg_mixed_quality-10" and run["model"] == "pff_jpeg"
    curves = (project / "results/claims_plots/jpeg_mixed_quality_psnr_by_quality.csv").read_text().splitlines()
    assert curves[0] == "quality,10"                                      # one column per variant
    assert [row.split(",")[0] for row in curves[1:]] == ["10", "40"]      # the tiny params' test qualities
    page = (project / "results" / "claims.md").read_text()
    assert "thesis claims" in page and "| l1 |" in page and "| pff_jpeg |" in page and "[report](report.md)" in page
    images = linked_images(project / "results" / "claims.md")
    assert images and all(path.is_file() for path in images)
    assert (project / "results" / "claims_figures" / "jpeg_mixed_quality" / "quality_curve.png").is_file()
    run = json.loads((project / "results/claims/depth_loss-l1-s0/metrics.json").read_text())
    assert run["registered"]["name"] == "claims-depth_loss-l1" and run["variant"] == "l1"
    # An alpha claim (Fig 7.2): both models trained with experiments.models.pff_flow's settings, alpha 0.5.
    run = json.loads((project / "results/claims/filter_vs_offset_flow-offset_flow_alpha0.5-s0/metrics.json").read_text())
    assert run["model"] == "offset_flow" and "recon_l1_m1" in run["metrics"] and "recon_l1_m1" in run["trivial_metrics"]
    flow = claims["filter_vs_offset_flow"]
    assert set(flow["variants"]) == {"pff_flow_alpha0.5", "offset_flow_alpha0.5", "trivial"}
    curve = (project / "results/claims_plots/filter_vs_offset_flow_epe_g1_by_alpha.csv").read_text().splitlines()
    assert curve[0] == "alpha,offset_flow,pff_flow,trivial" and curve[1].startswith("0.5,")
    assert (project / "results" / "claims_figures" / "filter_vs_offset_flow" / "alpha_curve.png").is_file()

    # Each claim's runs depend on their own models' params only.
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["models"]["boundary_baseline"]["train"]["steps"] = 5
    write_params(project, params)
    status = dvc(project, "status", "experiments/dvc.yaml")
    assert "ablate_depth_loss" not in status and "ablate_pff_vs_cnn_jpeg" not in status
    params["models"]["depth_baseline"]["train"]["steps"] = 7
    params["models"]["pff_jpeg"]["train"]["steps"] = 7
    write_params(project, params)
    status = dvc(project, "status", "experiments/dvc.yaml")
    assert all(f"{stage}" in status for stage in ("ablate_depth_loss@l1-0", "ablate_pff_vs_cnn_jpeg@pff_jpeg-0",
                                                   "ablate_jpeg_mixed_quality@10-0"))


def test_dvc_plots_show_loads_every_plot(project):
    """After both pipelines ran: every top-level and stage plot of dvc.yaml and experiments/dvc.yaml loads.

    `dvc plots show` exits 0 even when a plot's file or field is missing; it reports those in the JSON's
    "errors" (FileNotFoundError, FieldNotFoundError) and leaves that plot without data.
    """
    for pipeline, output in ((), "report.md"), (("experiments/dvc.yaml",), "claims.json"):
        if not (project / "results" / output).exists():      # this test run on its own
            dvc(project, "repro", *pipeline)
    shown = json.loads(dvc(project, "plots", "show", "--json"))
    assert not shown.get("errors"), shown.get("errors")
    expected = {"boundary_pr_curve", "jpeg_psnr_vs_quality", "jpeg_ssim_vs_quality", "jpeg_psnr_by_training_quality",
                "jpeg_ssim_by_training_quality", "jpeg_psnr_by_architecture", "jpeg_ssim_by_architecture",
                *(f"results/train/{model}/history.csv" for model in MODELS)}
    assert expected <= set(shown["data"]), sorted(shown["data"])
    assert all(shown["data"][name] for name in expected), [name for name in expected if not shown["data"][name]]

