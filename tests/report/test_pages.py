"""The report and claims stages on hand-made inputs: every linked image exists, missing sources give no image,
figures are reproducible, the shifted-set rows and the claim statuses say what the numbers say."""
import json
import re
from pathlib import Path

import pytest
import yaml
from PIL import Image, PngImagePlugin

from components.report.render import render_report
from pipelines.cli import main

IMAGE_LINK = re.compile(r"!\[[^\]]*\]\(([^)]+)\)")


def linked_images(page: Path) -> list[Path]:
    """A Markdown page -> the files its image links point at, resolved against the page's directory."""
    return [page.parent / link for link in IMAGE_LINK.findall(page.read_text())]


def write_png(path: Path, size=(64, 48), text: str | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    info = PngImagePlugin.PngInfo()
    if text:
        info.add_text("Comment", text)      # run-specific metadata the report must not carry over
    Image.new("RGB", size, (200, 30, 30)).save(path, pnginfo=info)


def write_csv(path: Path, header: str, rows: list[tuple]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(header + "\n" + "".join(",".join(str(v) for v in row) + "\n" for row in rows))


def summary(task, model, trivial, name, shifted=None, dataset="synth"):
    return {"task": task, "dataset": dataset, "model": model, "trivial": {"name": name, **trivial}, "registered": {"version": "1"},
            "shifted": shifted or {}, "time/load_s": 1.0}


JPEG = {"psnr": 30.0, "ssim": 0.85, "psnr_q10": 28.0, "ssim_q10": 0.8, "psnr_q20": 30.0, "ssim_q20": 0.85,
        "psnr_q40": 32.0, "ssim_q40": 0.9}


@pytest.fixture
def results(tmp_path) -> Path:
    """results/{evaluate,train}: boundary and JPEG models with every source, a segmentation model with none,
    and a stale model that params.yaml no longer lists."""
    root = tmp_path / "results"
    boundary, jpeg = root / "evaluate/boundary_baseline", root / "evaluate/pff_jpeg"
    entries = {
        "boundary_baseline": summary("boundary", {"ods_f": 0.7, "ois_f": 0.72, "ap": 0.6},
                                     {"ods_f": 0.5, "ois_f": 0.55, "ap": 0.4}, "sobel_magnitude"),
        "pff_jpeg": summary("jpeg", JPEG, {k: v - 1 for k, v in JPEG.items()}, "degraded_input",
                            {"jpeg_shift": {"model": {"psnr_q10": 27.0, "ssim_q10": 0.8, "psnr_q30": 30.0, "ssim_q30": 0.86},
                                            "trivial": {"psnr_q10": 27.5, "ssim_q10": 0.79, "psnr_q30": 29.0,
                                                        "ssim_q30": 0.85}}}, dataset="photos+synth"),
        "seg_baseline": summary("segmentation", {"miou": 0.5, "pixel_acc": 0.8}, {"miou": 0.1, "pixel_acc": 0.3},
                                "majority_class"),
        "cnn_jpeg": summary("jpeg", JPEG, JPEG, "degraded_input"),
    }
    for name, entry in entries.items():
        (root / "evaluate" / name).mkdir(parents=True)
        (root / "evaluate" / name / "metrics.json").write_text(json.dumps(entry))
    write_png(boundary / "plots/panel.png", size=(2000, 300), text="run 1")     # wider than the page's limit
    write_csv(boundary / "plots/pr_curve.csv", "threshold,recall,precision", [(0.1, 0.9, 0.4), (0.5, 0.6, 0.7)])
    write_csv(boundary / "plots/trivial_pr_curve.csv", "threshold,recall,precision", [(0.1, 0.8, 0.3), (0.5, 0.4, 0.5)])
    write_csv(jpeg / "plots/by_quality.csv", "quality,psnr,ssim", [(10, 28.0, 0.8), (20, 30.0, 0.85), (40, 32.0, 0.9)])
    write_csv(jpeg / "plots/trivial_by_quality.csv", "quality,psnr,ssim", [(10, 27, 0.7), (20, 29, 0.8), (40, 31, 0.85)])
    write_csv(jpeg / "plots/jpeg_shift_by_quality.csv", "quality,psnr,ssim", [(10, 27.0, 0.8), (30, 30.0, 0.86)])
    for view in ("panel", "filter_flow", "filter_pca", "filter_clusters"):
        write_png(jpeg / f"plots/{view}.png")
    for name in ("boundary_baseline", "pff_jpeg"):
        write_csv(root / f"train/{name}/history.csv", "step,loss", [(2, 1.5), (4, 0.9), (6, 0.7)])
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(
        {"models": {"seg_baseline": {}, "boundary_baseline": {}, "pff_jpeg": {"data": "restoration"}}}, sort_keys=False))
    return root


def run_report(results: Path) -> Path:
    page = results / "report.md"
    assert main(["--params", str(results.parent / "params.yaml"), "report", "--evaluations", str(results / "evaluate"),
                 "--training", str(results / "train"), "--out", str(page), "--figures", str(results / "report_figures"),
                 "--claims-page", str(results / "claims.md")]) == 0
    return page


def test_report_links_only_figures_it_wrote(results):
    page = run_report(results)
    images = linked_images(page)
    assert images and all(path.is_file() for path in images), [p for p in images if not p.is_file()]
    names = {path.relative_to(results).as_posix() for path in images}
    assert {"report_figures/boundary_baseline/pr_curve.png", "report_figures/boundary_baseline/training_curve.png",
            "report_figures/boundary_baseline/panel.png", "report_figures/pff_jpeg/quality_curve.png",
            "report_figures/pff_jpeg/filter_flow.png", "report_figures/pff_jpeg/filter_pca.png",
            "report_figures/pff_jpeg/filter_clusters.png"} <= names
    # No history, no plots: the model keeps its tables and gets no image at all.
    assert not any("seg_baseline" in name for name in names) and "### seg_baseline" in page.read_text()
    assert not (results / "report_figures" / "boundary_baseline" / "quality_curve.png").exists()


def test_report_figures_are_small_metadata_free_and_reproducible(results):
    page = run_report(results)
    first = {p: p.read_bytes() for p in linked_images(page)}
    with Image.open(results / "report_figures/boundary_baseline/panel.png") as panel:
        assert max(panel.size) <= 960 and "Comment" not in panel.info
    for path in first:
        with Image.open(path) as image:
            assert not {"Comment", "Software", "Creation Time"} & set(image.info), (path, image.info)
    run_report(results)
    assert {p: p.read_bytes() for p in linked_images(page)} == first


def test_report_reads_at_a_glance_and_leaves_out_models_params_no_longer_lists(results):
    text = run_report(results).read_text()
    glance = text.split("## At a glance")[1].split("## Models")[0]
    assert "| boundary_baseline | boundary | synth | ods_f ↑ | 0.700 | 0.500 | PASS |" in glance
    assert "| pff_jpeg | jpeg | held-out photos | psnr_q10 ↑ | 28.000 | 27.000 | PASS |" in glance
    assert "cnn_jpeg" not in text and "[claims page](claims.md)" in text
    jpeg = text.split("### pff_jpeg")[1].split("###")[0]
    assert [line.split("|")[1].strip() for line in jpeg.splitlines() if line.startswith("| psnr_q")] == [
        "psnr_q10 ↑", "psnr_q20 ↑", "psnr_q40 ↑"]
    assert text.index("### seg_baseline") < text.index("### boundary_baseline")      # params.yaml's order


def test_beyond_the_training_generator_says_no_where_the_model_is_not_above_the_input():
    shifted = {"sr_box": {"model": {"psnr": 26.0, "ssim": 0.75}, "trivial": {"psnr": 26.0, "ssim": 0.74}}}
    deblur = {"deblur_shake": {"model": {"psnr": 24.0, "ssim": 0.7}, "trivial": {"psnr": 23.0, "ssim": 0.65}}}
    jpeg = {"jpeg_shift": {"model": {"psnr_q10": 27.0, "ssim_q10": 0.8, "psnr_q30": 30.0, "ssim_q30": 0.86},
                           "trivial": {"psnr_q10": 27.5, "ssim_q10": 0.79, "psnr_q30": 29.0, "ssim_q30": 0.85}}}
    page = render_report({
        "pff_sr": summary("sr", {"psnr": 27.0, "ssim": 0.8}, {"psnr": 26.5, "ssim": 0.78}, "degraded_input", shifted),
        "pff_deblur": summary("deblur", {"psnr": 25.0, "ssim": 0.8}, {"psnr": 23.0, "ssim": 0.7}, "degraded_input", deblur),
        "pff_jpeg": summary("jpeg", JPEG, {k: v - 1 for k, v in JPEG.items()}, "degraded_input", jpeg)})
    section = page.split("## Beyond the training generator")[1]
    assert "| pff_sr | all images | 26.00 / 0.740 | 26.00 / 0.750 | **no** |" in section     # equal is not above
    assert "| pff_deblur | all images | 23.00 / 0.650 | 24.00 / 0.700 | yes |" in section
    assert "| pff_jpeg | QF 10 | 27.50 / 0.790 | 27.00 / 0.800 | **no** |" in section
    assert "| pff_jpeg | QF 30 | 29.00 / 0.850 | 30.00 / 0.860 | yes |" in section
    assert "Not above the degraded input" in section and "pff_sr on sr_box" in section
    assert "pff_deblur on" not in section


def claim_run(claim, variant, seed, psnr, input_psnr, shifted_psnr=None):
    run = {"claim": claim, "variant": variant, "seed": seed, "metrics": {"psnr": psnr, "ssim": 0.8},
           "trivial_metrics": {"psnr": input_psnr, "ssim": 0.7}}
    if shifted_psnr is not None:
        run["shifted"] = {"sr_box": {"model": {"psnr": shifted_psnr, "ssim": 0.7}, "trivial": {"psnr": 25.0, "ssim": 0.7}}}
    return run


def test_claims_stage_writes_its_page_charts_and_plot_tables(tmp_path):
    runs = tmp_path / "results" / "claims"
    entries = [claim_run("pff_vs_cnn_sr", "pff_sr", s, 27.0 + s / 10, 26.7, 24.0 + s) for s in (0, 1)]
    entries += [claim_run("pff_vs_cnn_sr", v, 0, 20.0, 26.7, 26.0) for v in ("cnn_sr", "cnn_residual_sr")]
    entries += [{"claim": "jpeg_mixed_quality", "variant": v, "seed": 0,
                 "metrics": {"psnr": 30.0, "psnr_q10": q10, "ssim_q10": 0.8, "psnr_q40": 33.0, "ssim_q40": 0.9}}
                for v, q10 in (("10", 28.0), ("mixed", 27.9))]
    for entry in entries:
        path = runs / f"{entry['claim']}-{entry['variant']}-s{entry['seed']}" / "metrics.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(entry))
    out = tmp_path / "results"
    assert main(["claims", "--runs", str(runs), "--out", str(out / "claims.json"), "--plots", str(out / "claims_plots"),
                 "--page", str(out / "claims.md"), "--figures", str(out / "claims_figures"),
                 "--report", str(out / "report.md")]) == 0
    page = (out / "claims.md").read_text()
    # Both CNNs are below the degraded input: PFF beating them is no evidence.
    assert "| pff_vs_cnn_sr | **UNINFORMATIVE** |" in page and "Status on synth: **UNINFORMATIVE**" in page
    assert "(uninformative: cnn_residual_sr does not beat the trivial 26.700)" in page
    assert "[report](report.md)" in page
    images = linked_images(out / "claims.md")
    assert {p.relative_to(out).as_posix() for p in images} >= {
        "claims_figures/pff_vs_cnn_sr/variants.png", "claims_figures/jpeg_mixed_quality/quality_curve.png"}
    assert all(p.is_file() for p in images)
    # The shifted set, mean over seeds: PFF 24.5 is below the input's 25.0, and the page says so.
    assert "| pff_sr | all images | 25.00 ± 0.00 / 0.700 ± 0.000 | 24.50 ± 0.50 / 0.700 ± 0.000 | **no** |" in page
    assert "| cnn_residual_sr | all images | 25.00 ± 0.00 / 0.700 ± 0.000 | 26.00 ± 0.00 / 0.700 ± 0.000 | yes |" in page
    psnr = (out / "claims_plots" / "jpeg_mixed_quality_psnr_by_quality.csv").read_text().splitlines()
    assert psnr[0] == "quality,10,mixed" and psnr[1].startswith("10,28.0,27.9")
