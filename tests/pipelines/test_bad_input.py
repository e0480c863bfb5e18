"""Bad input -> exactly one `error:` line on stderr, exit code 2, and no partial outputs."""
from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import TINY_PARAMS, write_params
from tests.services import free_port


def run_stage(directory: Path, params: dict, *args: str) -> subprocess.CompletedProcess:
    path = write_params(directory, params)
    return subprocess.run([sys.executable, "-m", "pipelines.cli", "--params", str(path), *args],
                          cwd=directory, capture_output=True, text=True, timeout=300)


def assert_one_error(result: subprocess.CompletedProcess, fragment: str) -> None:
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and fragment in errors[0], result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_model(tmp_path, tiny_dataset):
    result = run_stage(tmp_path, TINY_PARAMS, "train", "nope_model", "--shards", str(tiny_dataset), "--out", "out")
    assert_one_error(result, "unknown model 'nope_model'")
    assert not (tmp_path / "out").exists()


def test_unknown_dataset(tmp_path):
    params = copy.deepcopy(TINY_PARAMS)
    params["data"]["source"] = "imagenet_in_a_box"
    result = run_stage(tmp_path, params, "download", "--out", "raw")
    assert_one_error(result, "unknown dataset 'imagenet_in_a_box'")
    assert not (tmp_path / "raw").exists()


def test_invalid_params_fail_before_any_compute(tmp_path, tiny_dataset):
    params = copy.deepcopy(TINY_PARAMS)
    params["models"]["seg_baseline"]["train"]["batch_size"] = 0
    result = run_stage(tmp_path, params, "train", "seg_baseline", "--shards", str(tiny_dataset), "--out", "out")
    assert_one_error(result, "train.steps and train.batch_size must be >= 1")
    assert not (tmp_path / "out").exists() and not (tmp_path / "mlflow").exists()


def test_invalid_loss_kind_for_task(tmp_path, tiny_dataset):
    params = copy.deepcopy(TINY_PARAMS)
    params["models"]["depth_baseline"]["loss"] = {"kind": "cos_acos"}
    result = run_stage(tmp_path, params, "train", "depth_baseline", "--shards", str(tiny_dataset), "--out", "out")
    assert_one_error(result, "loss.kind 'cos_acos' is not valid for task 'depth'")


@pytest.mark.parametrize("claim, variant, fragment", [
    ("jpeg_mixed_quality", "30", "variant '30' is not among experiments.claims.jpeg_mixed_quality.variants (10, mixed)"),
    ("mixed_feelings", "10", "unknown claim 'mixed_feelings'"),
])
def test_ablate_rejects_unknown_claims_and_variants(tmp_path, tiny_dataset, claim, variant, fragment):
    params = copy.deepcopy(TINY_PARAMS)
    params["experiments"] = {"claims": {"jpeg_mixed_quality": {"vary": "jpeg_quality", "model": "pff_jpeg",
                                                                "variants": ["10", "mixed"]}}}
    result = run_stage(tmp_path, params, "ablate", claim, variant, "--seed", "0", "--shards", str(tiny_dataset),
                       "--out", "out")
    assert_one_error(result, fragment)
    assert not (tmp_path / "out").exists()


def test_missing_shards(tmp_path):
    result = run_stage(tmp_path, TINY_PARAMS, "train", "seg_baseline", "--shards", "no/shards", "--out", "out")
    assert_one_error(result, "no prepared dataset at no/shards")
    assert not (tmp_path / "out").exists()


def test_unreachable_mlflow(tmp_path, tiny_dataset):
    params = copy.deepcopy(TINY_PARAMS)
    params["tracking"] = {"uri": f"http://127.0.0.1:{free_port()}"}
    result = run_stage(tmp_path, params, "train", "seg_baseline", "--shards", str(tiny_dataset), "--out", "out")
    assert_one_error(result, "MLflow tracking server unreachable at http://127.0.0.1:")
    assert not (tmp_path / "out").exists()


def test_missing_pointer(tmp_path, tiny_dataset):
    result = run_stage(tmp_path, TINY_PARAMS, "evaluate", "seg_baseline", "--pointer", "none/model.json",
                       "--shards", str(tiny_dataset), "--out", "out")
    assert_one_error(result, "model pointer not found: none/model.json")
    assert not (tmp_path / "out").exists()


def test_missing_raw_data_leaves_no_shards(tmp_path):
    result = run_stage(tmp_path, TINY_PARAMS, "prepare", "--raw", "raw", "--out", "shards")
    assert_one_error(result, "no raw 'train' samples under raw")
    assert not (tmp_path / "shards").exists() and not list(tmp_path.glob(".shards*"))


def test_corrupt_raw_sample_is_skipped_and_counted(tmp_path, tiny_dataset):
    raw = tiny_dataset.parent / "raw"
    copy_dir = tmp_path / "raw"
    subprocess.run(["cp", "-r", str(raw), str(copy_dir)], check=True)
    victim = sorted((copy_dir / "train").glob("*.npz"))[3]
    victim.write_bytes(victim.read_bytes()[:100])
    result = run_stage(tmp_path, TINY_PARAMS, "prepare", "--raw", "raw", "--out", "shards")
    assert result.returncode == 0, result.stderr
    assert f"skipping corrupt raw sample train/{victim.stem}" in result.stderr
    info = (tmp_path / "shards" / "dataset.json").read_text()
    from components.data.dataset import DatasetInfo
    from components.data.shards import read_manifest
    parsed = DatasetInfo.read(tmp_path / "shards")
    assert parsed.skipped == {"train": 1, "val": 0, "test": 0}, info
    assert parsed.split_sizes["train"] == TINY_PARAMS["data"]["splits"]["train"] - 1
    keys = read_manifest(tmp_path / "shards", "train").column("key").to_pylist()
    assert victim.stem not in keys and len(keys) == len(np.unique(keys))


def test_unknown_photo_fails_the_degrade_stage_before_writing(tmp_path, tiny_dataset):
    params = copy.deepcopy(TINY_PARAMS)
    params["degrade"]["test_photos"] = ["mona_lisa"]
    result = run_stage(tmp_path, params, "degrade", "--synth", str(tiny_dataset), "--out", "restoration")
    assert_one_error(result, "unknown photo(s) 'mona_lisa'")
    assert not (tmp_path / "restoration").exists()


def test_restore_reports_an_unreadable_image(tmp_path):
    (tmp_path / "in.png").write_bytes(b"not a png")
    result = run_stage(tmp_path, TINY_PARAMS, "restore", "--model", "pff_jpeg@champion", "in.png", "out.png")
    assert_one_error(result, "cannot read image in.png")
    assert not (tmp_path / "out.png").exists()


def test_flow_and_edit_report_bad_images_before_loading_a_model(tmp_path):
    from PIL import Image
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(tmp_path / "a.png")
    Image.fromarray(np.zeros((20, 31, 3), np.uint8)).save(tmp_path / "b.png")
    (tmp_path / "bad.png").write_bytes(b"not a png")
    result = run_stage(tmp_path, TINY_PARAMS, "flow", "a.png", "b.png", "out.flo")
    assert_one_error(result, "the frames must have one size")
    result = run_stage(tmp_path, TINY_PARAMS, "flow", "a.png", "bad.png", "out.flo")
    assert_one_error(result, "cannot read image bad.png")
    result = run_stage(tmp_path, TINY_PARAMS, "edit", "a.png", "bad.png", "a.png", "out.png")
    assert_one_error(result, "cannot read image bad.png")
    assert not any((tmp_path / name).exists() for name in ("out.flo", "out.png"))
