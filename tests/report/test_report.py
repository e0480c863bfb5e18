"""Report and claim aggregation: numbers land in the right cells, verdicts follow the data."""
import numpy as np
import pytest

from components.report.claims import alpha_curves, alpha_plot_tables, plot_tables, quality_curves, summarize_claims
from components.report.figures import claim_figures
from components.report.claims_page import render_claims_page
from components.report.render import render_report
from components.report.thesis import passes


def summary(task, model, trivial, name="t", dataset="synth"):
    return {"task": task, "dataset": dataset, "model": model, "trivial": {"name": name, **trivial},
            "registered": {"version": "3"}}


@pytest.mark.parametrize("task, model, trivial, expected", [
    ("segmentation", {"miou": 0.5}, {"miou": 0.25}, True),
    ("segmentation", {"miou": 0.49}, {"miou": 0.25}, False),
    ("depth", {"delta1": 0.45}, {"delta1": 0.30}, True),
    ("depth", {"delta1": 0.44}, {"delta1": 0.30}, False),
    ("normal", {"mean": 40.0}, {"mean": 50.0}, True),
    ("normal", {"mean": 40.1}, {"mean": 50.0}, False),
    ("boundary", {"ods_f": 0.70}, {"ods_f": 0.60}, True),
    ("boundary", {"ods_f": 0.69}, {"ods_f": 0.60}, False),
    ("deblur", {"psnr": 25.0}, {"psnr": 24.0}, True),
    ("deblur", {"psnr": 24.9}, {"psnr": 24.0}, False),
    ("jpeg", {"psnr_q10": 28.5}, {"psnr_q10": 28.0}, True),
    ("sr", {"psnr": 26.2}, {"psnr": 26.0}, False),
    ("video", {"recon_l1_m5": 7.5}, {"recon_l1_m5": 15.0}, True),
    ("video", {"recon_l1_m5": 7.6}, {"recon_l1_m5": 15.0}, False),
])
def test_acceptance_checks(task, model, trivial, expected):
    assert passes("a_model", task, model, trivial)[1] is expected


def test_a_model_can_have_its_own_check():
    # flownet_s is judged by its endpoint error, mgpff (same task) by reconstruction.
    metrics, zero = {"recon_l1_m5": 15.0, "epe_g1": 0.6}, {"recon_l1_m5": 15.0, "epe_g1": 1.2}
    assert passes("flownet_s", "video", metrics, zero) == ("epe_g1 0.60 <= 0.5 x 1.20", True)
    assert passes("mgpff", "video", metrics, zero)[1] is False
    assert passes("flownet_s", "video", {**metrics, "epe_g1": 0.61}, zero)[1] is False


def test_report_lists_model_trivial_and_thesis_side_by_side():
    page = render_report({"seg_baseline": summary("segmentation", {"miou": 0.5, "pixel_acc": 0.8},
                                                  {"miou": 0.04, "pixel_acc": 0.3}, "majority_class")})
    row = next(line for line in page.splitlines() if line.startswith("| miou"))
    assert [cell.strip() for cell in row.split("|")[2:5]] == ["0.500", "0.040", "0.421"]
    assert "trivial: majority_class" in page and "PASS" in page
    assert "ours (synth test)" in page and "thesis (other data: NYUv2, Table 2.2)" in page


@pytest.mark.parametrize("dataset, label, header, miou", [
    ("nyuv2", "NYUv2", "thesis (NYUv2, Table 2.2)", "0.421"),
    ("cityscapes", "Cityscapes", "thesis (Cityscapes, Table 2.2)", "0.738"),
    ("sun_rgbd", "SUN RGB-D", "thesis (SUN RGB-D, Table 3.2 (baseline))", "0.402"),
    ("voc_sbd", "VOC 2012 + SBD", "thesis (other data: NYUv2, Table 2.2)", "0.421"),     # no segmentation table on VOC
])
def test_each_number_is_labelled_with_its_dataset_and_compared_on_the_same_one(dataset, label, header, miou):
    page = render_report({"seg_baseline": summary("segmentation", {"miou": 0.5, "pixel_acc": 0.8},
                                                  {"miou": 0.04, "pixel_acc": 0.3}, dataset=dataset)})
    row = next(line for line in page.splitlines() if line.startswith("| miou"))
    assert header in page and f"ours ({label} test)" in page and row.split("|")[4].strip() == miou
    glance = next(line for line in page.splitlines() if line.startswith("| seg_baseline"))
    assert glance.split("|")[3].strip() == label


def test_restoration_table_takes_the_thesis_row_of_the_test_set():
    sr = {"psnr": 27.0, "ssim": 0.75}
    for dataset, thesis in (("div2k+set14", "28.43 / 0.782"), ("div2k+urban100", "25.34 / 0.781"),
                            ("photos+synth", "32.17 / 0.895")):
        page = render_report({"pff_sr": summary("sr", sr, {"psnr": 26.0, "ssim": 0.7}, dataset=dataset)})
        table = page[page.index("### Table 6.3"):]
        row = next(line for line in table.splitlines() if line.startswith("| ") and "27.00" in line)
        assert row.split("|")[-2].strip() == thesis
    assert "thesis: PFF (other data: Set5, Table 6.3 (x4))" in page and "| held-out photos |" in page


def run(claim, variant, seed, trivial=None, **metrics):
    """One run summary; `trivial` (metric -> value) is the run's trivial baseline, 0 for every metric by default."""
    return {"claim": claim, "variant": variant, "seed": seed, "metrics": metrics,
            "trivial_metrics": trivial if trivial is not None else {m: 0.0 for m in metrics}}


def test_claims_mean_std_and_verdict():
    runs = [run("depth_loss", kind, seed, delta1=d, abs_rel=0.3, rmse_log=0.4)
            for kind, values in {"l1_l2": (0.50, 0.52, 0.54), "l1": (0.49, 0.50, 0.51), "l2": (0.40, 0.41, 0.42)}.items()
            for seed, d in enumerate(values)]
    result = summarize_claims(runs)["depth_loss"]
    assert result["seeds"] == [0, 1, 2]
    assert result["variants"]["l1_l2"]["delta1"]["mean"] == pytest.approx(0.52)
    assert result["variants"]["l1_l2"]["delta1"]["std"] == pytest.approx(np.std([0.50, 0.52, 0.54]))
    assert result["status"] == "holds" and result["holds"] is True
    runs[0]["metrics"]["delta1"] = 0.20          # winner's mean drops below l1's
    assert summarize_claims(runs)["depth_loss"]["status"] == "does not hold"


def test_claim_with_lower_is_better_rival_only_uses_listed_rivals():
    runs = [run("normal_loss", "cos_acos", 0, mean=20, median=15, within_11_25=0.40),
            run("normal_loss", "cos", 0, mean=22, median=16, within_11_25=0.35),
            run("normal_loss", "acos", 0, mean=19, median=14, within_11_25=0.45)]   # not a rival of the claim
    result = summarize_claims(runs)["normal_loss"]
    assert result["holds"] is True and "cos 0.350" in result["verdict"]
    page = render_claims_page({"normal_loss": result})
    assert "0.400 ± 0.000" in page and "0.338" in page      # ours and the thesis's Table 2.6


def test_restoration_claim_needs_the_winner_to_beat_the_rival_and_the_degraded_input():
    def sr_run(variant, seed, psnr, degraded):
        return {**run("pff_vs_cnn_sr", variant, seed, psnr=psnr, ssim=0.8), "trivial_metrics": {"psnr": degraded, "ssim": 0.7}}
    runs = [sr_run("pff_sr", 0, 27.3, 26.7), sr_run("pff_sr", 1, 27.1, 26.7), sr_run("cnn_sr", 0, 20.0, 26.7)]
    runs.append(sr_run("cnn_residual_sr", 0, 27.0, 26.7))
    result = summarize_claims(runs)["pff_vs_cnn_sr"]
    assert result["variants"]["trivial"]["psnr"]["mean"] == pytest.approx(26.7)
    assert result["status"] == "holds" and result["holds"] is True and "trivial 26.700" in result["verdict"]
    # The direct CNN is below its input: beating it is no evidence, and the verdict says so.
    assert "cnn_sr 20.000 (uninformative: cnn_sr does not beat the trivial 26.700)" in result["verdict"]
    for psnr in (26.5, 26.7):     # beats both CNNs, not the input (matching it is not beating it)
        runs = [sr_run("pff_sr", 0, psnr, 26.7), sr_run("cnn_sr", 0, 20.0, 26.7), sr_run("cnn_residual_sr", 0, 26.0, 26.7)]
        assert summarize_claims(runs)["pff_vs_cnn_sr"]["status"] == "does not hold"
    page = render_claims_page(summarize_claims(runs))
    assert "| cnn_sr | 20.000 ± 0.000 |" in page and "| trivial | 26.700 ± 0.000 |" in page


@pytest.mark.parametrize("claim, winner, rival, metric, higher_is_better", [
    ("pff_vs_cnn_deblur", "pff_deblur", "cnn_deblur", "psnr", True),
    ("depth_loss", "l1_l2", "l1", "delta1", True),
    ("normal_loss", "cos_acos", "cos", "within_11_25", True),
    ("boundary_loss", "balanced", "plain", "ods_f", True),
    ("pff_vs_cnn_jpeg", "pff_jpeg", "cnn_residual_jpeg", "psnr_q10", True),
])
def test_a_rival_that_does_not_beat_the_trivial_baseline_makes_the_claim_uninformative(
        claim, winner, rival, metric, higher_is_better):
    good, trivial = (0.9, 0.5) if higher_is_better else (0.1, 0.5)
    for rival_value in (trivial, 0.3 if higher_is_better else 0.7):     # equal to trivial, then worse
        runs = [run(claim, winner, 0, trivial={metric: trivial}, **{metric: good}),
                run(claim, rival, 0, trivial={metric: trivial}, **{metric: rival_value})]
        result = summarize_claims(runs)[claim]
        assert result["status"] == "uninformative" and result["holds"] is False, result
        assert f"| {claim} | **UNINFORMATIVE** |" in render_claims_page({claim: result})
    # The same winner against a rival that does beat the trivial baseline: now the claim holds.
    rival_value = 0.6 if higher_is_better else 0.4
    runs[1] = run(claim, rival, 0, trivial={metric: trivial}, **{metric: rival_value})
    assert summarize_claims(runs)[claim]["status"] == "holds"


def test_a_claim_without_the_trivial_baseline_of_its_runs_is_not_judged_informative():
    runs = [{"claim": "depth_loss", "variant": v, "seed": 0, "metrics": {"delta1": d}}
            for v, d in (("l1_l2", 0.5), ("l1", 0.4))]
    assert summarize_claims(runs)["depth_loss"]["status"] == "uninformative"


def video_run(variant, seed, recon_m5=8.0, recon_m10=12.0, j=0.5):
    return run("mgpff_vs_flownet", variant, seed, trivial={"recon_l1_m5": 15.0, "recon_l1_m10": 19.0, "track_J_mean": 0.36},
               recon_l1_m5=recon_m5, recon_l1_m10=recon_m10, track_J_mean=j, track_jf_mean=j, epe_g1=1.0)


def test_mgpff_claim_needs_lower_reconstruction_than_flownet_and_identity_and_better_tracking():
    runs = [video_run("mgpff", 0), video_run("mgpff", 1, recon_m5=8.4), video_run("flownet_s", 0, recon_m5=13.8, j=0.37)]
    result = summarize_claims(runs)["mgpff_vs_flownet"]
    assert result["status"] == "holds", result["verdict"]
    assert "recon_l1_m5: mgpff 8.200 vs flownet_s 13.800" in result["verdict"]
    assert "recon_l1_m10: mgpff 12.000 vs trivial 19.000" in result["verdict"]
    assert "track_J_mean: mgpff 0.500 vs trivial 0.360" in result["verdict"]
    # Each of the claim's parts can fail it on its own: m = 10 no better than identity, tracking below it.
    for broken in ({"recon_m10": 19.5}, {"j": 0.30}, {"recon_m5": 14.0}):
        runs = [video_run("mgpff", 0, **broken), video_run("flownet_s", 0, recon_m5=13.8, j=0.37)]
        assert summarize_claims(runs)["mgpff_vs_flownet"]["status"] == "does not hold", broken
    page = render_claims_page(summarize_claims(runs))
    assert "7.320" in page and "62.400" in page          # Table 7.2's mgPFF and FlowNet2 beside ours


def alpha_run(model, alpha, seed, recon, epe, zero=(6.2, 1.23)):
    return run("filter_vs_offset_flow", f"{model}_alpha{alpha}", seed, trivial={"recon_l1_m1": zero[0], "epe_g1": zero[1],
               "epe_g1_noc": zero[1]}, recon_l1_m1=recon, epe_g1=epe, epe_g1_noc=epe)


def test_filter_vs_offset_claim_compares_the_two_models_at_each_alpha(tmp_path):
    alphas = ("0", "0.25", "0.5", "0.75", "1")
    runs = [alpha_run("pff_flow", a, s, 5.0 - 0.1 * i + 0.05 * s, 1.0) for i, a in enumerate(alphas) for s in (0, 1)]
    runs += [alpha_run("offset_flow", a, 0, 5.5, 0.9) for a in alphas]
    result = summarize_claims(runs)["filter_vs_offset_flow"]
    assert result["status"] == "holds", result["verdict"]
    assert "recon_l1_m1: pff_flow_alpha0.25 4.925 vs offset_flow_alpha0.25 5.500" in result["verdict"]
    # Offset flow wins at one alpha, informatively (it beats zero flow there): the claim fails.
    runs[-1] = alpha_run("offset_flow", "1", 0, 4.0, 0.9)
    assert summarize_claims(runs)["filter_vs_offset_flow"]["status"] == "does not hold"
    # An offset model no better than zero flow is no evidence at that alpha; at every alpha, none at all.
    runs = runs[:10] + [alpha_run("offset_flow", a, 0, 6.3, 1.5) for a in alphas]
    assert summarize_claims(runs)["filter_vs_offset_flow"]["status"] == "uninformative"

    claims = {"filter_vs_offset_flow": summarize_claims(runs)["filter_vs_offset_flow"]}
    curves = alpha_curves(claims)["filter_vs_offset_flow"]
    assert [row["alpha"] for row in curves] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert curves[1]["models"]["pff_flow"]["recon_l1_m1"]["mean"] == pytest.approx(4.925)
    assert curves[1]["models"]["pff_flow"]["recon_l1_m1"]["std"] == pytest.approx(0.025)
    tables = alpha_plot_tables(claims, {"filter_vs_offset_flow": curves})
    assert set(tables) == {f"filter_vs_offset_flow_{m}_by_alpha" for m in ("recon_l1_m1", "epe_g1", "epe_g1_noc")}
    assert tables["filter_vs_offset_flow_epe_g1_by_alpha"][0] == {"alpha": 0.0, "offset_flow": 1.5, "pff_flow": 1.0,
                                                                "trivial": 1.23}
    figures = claim_figures("filter_vs_offset_flow", claims["filter_vs_offset_flow"], [], curves, tmp_path)
    assert [f.path for f in figures] == ["filter_vs_offset_flow/alpha_curve.png"]
    assert (tmp_path / "filter_vs_offset_flow" / "alpha_curve.png").stat().st_size > 1000


def test_mixed_quality_claim_compares_at_each_rivals_quality_within_tolerance():
    def jpeg_run(variant, q10, q20, q40):
        return run("jpeg_mixed_quality", variant, 0, psnr=(q10 + q20 + q40) / 3, psnr_q10=q10, psnr_q20=q20,
                   psnr_q40=q40, ssim_q10=0.8, ssim_q20=0.85, ssim_q40=0.9)
    specific = [jpeg_run("10", 30.0, 31.0, 32.0), jpeg_run("20", 29.5, 32.5, 33.5), jpeg_run("40", 29.0, 32.0, 35.0)]
    result = summarize_claims([*specific, jpeg_run("mixed", 29.9, 32.4, 34.85)])["jpeg_mixed_quality"]
    assert result["holds"] is True                      # 0.1, 0.1, 0.15 dB behind: within 0.2 dB
    assert "psnr_q10: mixed 29.900 vs 10 30.000" in result["verdict"] and "psnr_q40: mixed" in result["verdict"]
    assert summarize_claims([*specific, jpeg_run("mixed", 29.9, 32.4, 34.7)])["jpeg_mixed_quality"]["holds"] is False
    curves = quality_curves({"jpeg_mixed_quality": result})["jpeg_mixed_quality"]
    assert [row["quality"] for row in curves] == [10, 20, 40]
    assert curves[1]["psnr_20"] == pytest.approx(32.5) and curves[2]["ssim_mixed"] == pytest.approx(0.9)
    # The DVC plot tables name each column by the variant alone (experiments/dvc.yaml lists the configured variants).
    tables = plot_tables({"jpeg_mixed_quality": curves})
    assert list(tables["jpeg_mixed_quality_psnr_by_quality"][0]) == ["quality", "10", "20", "40", "mixed", "trivial"]
    assert tables["jpeg_mixed_quality_ssim_by_quality"][2]["mixed"] == pytest.approx(0.9)


def test_restoration_tables_follow_the_thesis_layout():
    jpeg = {"psnr": 29.0, "ssim": 0.8, "psnr_q10": 27.5, "ssim_q10": 0.75, "psnr_q20": 29.0, "ssim_q20": 0.8,
            "psnr_q40": 31.0, "ssim_q40": 0.85}
    degraded = {k: v - 0.5 for k, v in jpeg.items()}
    page = render_report({"pff_jpeg": summary("jpeg", jpeg, degraded, "degraded_input"),
                          "cnn_residual_jpeg": summary("jpeg", {k: v - 0.2 for k, v in jpeg.items()}, degraded,
                                                       "degraded_input"),
                          "cnn_jpeg": summary("jpeg", {k: 1.0 for k in jpeg}, degraded, "degraded_input")})
    header = next(line for line in page.splitlines() if line.startswith("| setting"))
    assert "residual CNN (ours)" in header and "thesis: direct-regression CNN" in header
    row = next(line for line in page.splitlines() if line.startswith("| QF 10"))
    assert [cell.strip() for cell in row.split("|")[2:7]] == [
        "27.00 / 0.250", "27.30 / 0.550", "27.50 / 0.750", "—", "29.82 / 0.836"]
    assert "Table 6.2" in page and "Table 6.1" not in page        # only tasks with a trained model
    # The residual CNN has no thesis numbers; its own table still lists every quality factor.
    residual = page.split("### cnn_residual_jpeg")[1].split("###")[0]
    assert "| psnr_q10 ↑ | 27.300 | 27.000 | — |" in residual and "| ssim_q40 ↑ |" in residual


def test_the_model_size_is_shown_beside_the_thesis_figure():
    video = summary("video", {"recon_l1_m5": 8.0, "recon_l1_m10": 12.0, "epe_g1": 1.1},
                    {"recon_l1_m5": 15.0, "recon_l1_m10": 19.0, "epe_g1": 1.2}, "zero_flow", dataset="synth_video")
    page = render_report({"mgpff": {**video, "model_size": {"parameters": 170932, "size_mb": 0.688}}})
    assert "Model size: 170,932 parameters, 0.69 MB (thesis: 4.6 MB)" in page
    assert "**FAIL** — recon_l1_m5 8.00 <= 0.5 x 15.00" in page and "ours (synth clips test)" in page
    row = next(line for line in page.splitlines() if line.startswith("| recon_l1_m5"))
    assert [cell.strip() for cell in row.split("|")[1:5]] == ["recon_l1_m5 ↓", "8.000", "15.000", "7.320"]


def test_video_tables_put_identity_flownet_and_mgpff_beside_the_thesis_rows():
    zero = {"recon_l1_m5": 15.0, "recon_l1_m10": 19.0, "track_J_mean": 0.36, "track_J_recall": 0.35,
            "track_F_mean": 0.38, "track_F_recall": 0.30, "epe_g1": 1.2}
    mgpff = {**zero, "recon_l1_m5": 8.2, "recon_l1_m10": 12.1, "track_J_mean": 0.53}
    flownet = {**zero, "recon_l1_m5": 14.9}
    page = render_report({"mgpff": summary("video", mgpff, zero, "zero_flow", dataset="synth_video"),
                          "flownet_s": summary("video", flownet, zero, "zero_flow", dataset="synth_video")})
    section = page.split("## Video (thesis Tables 7.2 and 7.1 layout)")[1]
    reconstruction = section.split("### Table 7.1")[0]
    cells = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]]
             for line in reconstruction.splitlines() if line.startswith("| ") and "---" not in line}
    assert cells["identity (zero flow)"] == ["15.000", "19.000", "Identity", "82.000", "97.700"]
    assert cells["optical flow: flownet_s"] == ["14.900", "19.000", "FlowNet2", "62.400", "90.300"]
    assert cells["mgPFF: mgpff"] == ["8.200", "12.100", "mgPFF", "7.320", "8.830"]
    tracking = section.split("### Table 7.1")[1]
    row = next(line for line in tracking.splitlines() if line.startswith("| mgPFF"))
    assert "| 0.530 | 0.350 | 0.380 | 0.300 | mgPFF^1st (K = 3) | 0.422 | 0.418 | 0.469 | 0.444 |" in row
    # Without video models there is no such section.
    assert "## Video" not in render_report({"seg_baseline": summary("segmentation", {"miou": 0.5}, {"miou": 0.1})})
