"""Static figures for the report pages: copied evaluation images and small matplotlib charts (Agg).

Every file is written without metadata that changes between runs (matplotlib's Software key, PIL
text chunks), so a committed page changes only when its numbers or images do.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from matplotlib.figure import Figure
from PIL import Image

from components.report.thesis import CLAIMS

DPI = 80             # charts of 4 x 3 inches -> 320 x 240 px: legible, a few tens of kB
MAX_SIDE = 960       # copied panels larger than this are downscaled (area average)
TRIVIAL_STYLE = {"color": "0.45", "linestyle": "--"}


@dataclass(frozen=True)
class PageFigure:
    """One image a page shows: `path` is relative to the figures directory."""
    caption: str
    path: str
    chart: bool      # a small chart (several sit side by side) rather than a copied full-width image


# (file name in the evaluation's plots/, caption) for the images the evaluate stage writes.
COPIED_IMAGES = (
    ("panel.png", "Prediction panel (test split), each row left to right: input, prediction, ground truth"),
    ("filter_flow.png", "Filter flow (§6.5), left to right: degraded input, restored, mean offset under each "
                        "pixel's filter coloured like optical flow"),
    ("filter_pca.png", "Top-10 principal filters of the predicted per-pixel filters (§6.5)"),
    ("filter_clusters.png", "Filter clusters (§6.5), left to right: degraded input, k-means cluster of each "
                            "pixel's filter"),
    ("tracking.png", "Tracking by mask propagation (§7.3.1), per test clip: frames with the propagated masks, "
                     "then with the true ones"),
    ("pixel_tracks.png", "Pixel tracks, per test clip: a grid of pixels in the first frame and their paths to the "
                         "last, chained through the predicted flows of consecutive frames (colour: start position)"),
)


def read_rows(path: Path) -> list[dict[str, float | str]]:
    """A CSV table -> rows with numeric cells as floats ([] when the file is missing or empty)."""
    if not path.is_file():
        return []
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))

    def number(cell: str) -> float | str:
        try:
            return float(cell)
        except ValueError:
            return cell
    return [{key: number(cell) for key, cell in row.items()} for row in rows]


def copy_image(source: Path, target: Path, max_side: int = MAX_SIDE) -> bool:
    """An image file -> a metadata-free PNG at `target`, downscaled to fit `max_side`; False when `source` is missing."""
    if not source.is_file():
        return False
    with Image.open(source) as opened:
        image = opened.convert("RGB")
    scale = max(image.size) / max_side
    if scale > 1:
        image = image.resize((round(image.width / scale), round(image.height / scale)), Image.Resampling.BOX)
    target.parent.mkdir(parents=True, exist_ok=True)
    image.save(target, format="PNG", optimize=True)
    return True


def _save(figure: Figure, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(target, dpi=DPI, metadata={"Software": None})


def _column(rows: list[dict], key: str) -> list[float]:
    return [float(row[key]) for row in rows]


def training_curve(history: Path, target: Path) -> bool:
    """history.csv (step, loss) -> loss vs step chart; False without rows."""
    rows = [r for r in read_rows(history) if isinstance(r.get("loss"), float) and np.isfinite(r["loss"])]
    if not rows:
        return False
    figure = Figure(figsize=(4, 3), layout="constrained")
    axes = figure.add_subplot()
    axes.plot(_column(rows, "step"), _column(rows, "loss"), marker="." if len(rows) < 20 else None)
    losses = _column(rows, "loss")
    if min(losses) > 0 and max(losses) > 20 * min(losses):
        axes.set_yscale("log")      # a loss falling by orders of magnitude: a log axis still shows the tail
    axes.set(xlabel="step", ylabel="training loss", title="Training curve")
    axes.grid(alpha=0.3)
    _save(figure, target)
    return True


def pr_curve(plots: Path, target: Path) -> bool:
    """pr_curve.csv (and trivial_pr_curve.csv) -> precision vs recall chart; False without the model's curve."""
    model, trivial = read_rows(plots / "pr_curve.csv"), read_rows(plots / "trivial_pr_curve.csv")
    if not model:
        return False
    figure = Figure(figsize=(4, 3), layout="constrained")
    axes = figure.add_subplot()
    axes.plot(_column(model, "recall"), _column(model, "precision"), label="model")
    if trivial:
        axes.plot(_column(trivial, "recall"), _column(trivial, "precision"), label="trivial baseline", **TRIVIAL_STYLE)
    axes.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1), title="Boundary PR curve (test)")
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small")
    _save(figure, target)
    return True


def quality_curve(plots: Path, target: Path) -> bool:
    """by_quality.csv (quality, psnr, ssim) beside the degraded input's (and the shifted JPEG set's) -> PSNR and
    SSIM vs QF chart (Fig 6.4); False without the model's table."""
    series = [("model", read_rows(plots / "by_quality.csv"), {"marker": "o"}),
              ("degraded input", read_rows(plots / "trivial_by_quality.csv"), {"marker": "o", **TRIVIAL_STYLE}),
              ("model, jpeg_shift set", read_rows(plots / "jpeg_shift_by_quality.csv"),
               {"marker": "s", "linestyle": "none", "color": "C1"}),
              ("input, jpeg_shift set", read_rows(plots / "jpeg_shift_trivial_by_quality.csv"),
               {"marker": "x", "linestyle": "none", "color": "0.45"})]
    if not series[0][1]:
        return False
    figure = Figure(figsize=(7, 3), layout="constrained")
    for index, (metric, unit) in enumerate((("psnr", "PSNR (dB)"), ("ssim", "SSIM"))):
        axes = figure.add_subplot(1, 2, index + 1)
        for label, rows, style in series:
            if rows and metric in rows[0]:
                axes.plot(_column(rows, "quality"), _column(rows, metric), label=label, **style)
        axes.set(xlabel="JPEG quality factor", ylabel=unit)
        axes.grid(alpha=0.3)
    axes.legend(fontsize="small")
    figure.suptitle("Quality vs JPEG QF, held-out photos (Fig 6.4)")
    _save(figure, target)
    return True


def model_figures(name: str, evaluation: Path, history: Path, out: Path) -> list[PageFigure]:
    """One model's evaluate dir (metrics.json, plots/) and training history.csv -> the figures written under
    out/<name>/, in page order; a missing source simply yields no figure."""
    plots, shown = evaluation / "plots", []
    for file, caption, draw, source in (("training_curve.png", "training loss vs step", training_curve, history),
                                        ("pr_curve.png", "PR curve, model vs trivial baseline", pr_curve, plots),
                                        ("quality_curve.png", "PSNR/SSIM vs JPEG QF, model vs degraded input",
                                         quality_curve, plots)):
        if draw(source, out / name / file):
            shown.append(PageFigure(caption, f"{name}/{file}", chart=True))
    for file, caption in COPIED_IMAGES:
        if copy_image(plots / file, out / name / file):
            shown.append(PageFigure(caption, f"{name}/{file}", chart=False))
    return shown


def claim_chart(variants: dict[str, dict], metric: str, winner: str, target: Path) -> bool:
    """{variant: {metric: {mean, std}}} -> mean ± std (over seeds) per variant, the trivial baseline as a dashed line;
    False when no variant reports `metric`."""
    names = [v for v in variants if v != "trivial" and metric in variants[v]]
    if not names:
        return False
    figure = Figure(figsize=(4, 3), layout="constrained")
    axes = figure.add_subplot()
    for index, name in enumerate(names):
        stats = variants[name][metric]
        # Points with error bars, not bars from zero: the variants differ by far less than their magnitude.
        axes.errorbar([index], [stats["mean"]], yerr=[stats["std"]], fmt="o", capsize=4,
                      color="C3" if name == winner else "C0")
    if metric in variants.get("trivial", {}):
        axes.axhline(variants["trivial"][metric]["mean"], label="trivial baseline", **TRIVIAL_STYLE)
        axes.legend(fontsize="small")
    axes.set_xticks(range(len(names)), names, rotation=20, fontsize="small")
    axes.set_xlim(-0.5, len(names) - 0.5)
    axes.set(ylabel=metric, title=f"{metric}: mean ± std over seeds")
    axes.grid(alpha=0.3, axis="y")
    _save(figure, target)
    return True


def claim_quality_chart(rows: list[dict], target: Path) -> bool:
    """Fig 6.4 rows (quality, psnr_<variant>, ssim_<variant>) -> PSNR and SSIM vs test QF, one line per variant."""
    if not rows:
        return False
    variants = [key.removeprefix("psnr_") for key in rows[0] if key.startswith("psnr_")]
    figure = Figure(figsize=(7, 3), layout="constrained")
    for index, (kind, unit) in enumerate((("psnr", "PSNR (dB)"), ("ssim", "SSIM"))):
        axes = figure.add_subplot(1, 2, index + 1)
        for variant in variants:
            if f"{kind}_{variant}" in rows[0]:
                style = TRIVIAL_STYLE if variant == "trivial" else {}
                axes.plot(_column(rows, "quality"), _column(rows, f"{kind}_{variant}"), marker="o",
                          label="degraded input" if variant == "trivial" else variant, **style)
        axes.set(xlabel="test JPEG quality factor", ylabel=unit)
        axes.grid(alpha=0.3)
    axes.legend(fontsize="small", title="trained on / model")
    figure.suptitle("Quality vs test QF, mean over seeds (Fig 6.4)")
    _save(figure, target)
    return True


def claim_alpha_chart(rows: list[dict], metrics: Sequence[str], target: Path) -> bool:
    """Fig 7.2 rows (claims.alpha_curves) -> one panel per metric over alpha: a line per model (mean ± std over
    seeds) and the trivial baseline dashed."""
    if not rows:
        return False
    figure = Figure(figsize=(3.5 * len(metrics), 3), layout="constrained")
    alphas = _column(rows, "alpha")
    for index, metric in enumerate(metrics):
        axes = figure.add_subplot(1, len(metrics), index + 1)
        for model in rows[0]["models"]:
            stats = [row["models"].get(model, {}).get(metric, {"mean": np.nan, "std": np.nan}) for row in rows]
            axes.errorbar(alphas, [s["mean"] for s in stats], yerr=[s["std"] for s in stats], marker="o", capsize=3,
                          label=model)
        if all(metric in row["trivial"] for row in rows):
            axes.plot(alphas, [row["trivial"][metric]["mean"] for row in rows], label="zero flow", **TRIVIAL_STYLE)
        axes.set(xlabel="alpha (weight of the supervised loss)", ylabel=metric)
        axes.grid(alpha=0.3)
    axes.legend(fontsize="small")
    figure.suptitle("Filter flow vs offset flow over alpha, mean ± std over seeds (Fig 7.2)")
    _save(figure, target)
    return True


def claim_figures(name: str, result: dict, curves: list[dict], alpha_rows: list[dict], out: Path) -> list[PageFigure]:
    """One claim's summary (claims.json entry), its Fig 6.4 rows and its Fig 7.2 rows ([] if none) -> the charts
    written under out/<name>/: the claim's metric per variant (or over alpha), and the quality curves."""
    claim, shown = CLAIMS[name], []
    if claim_alpha_chart(alpha_rows, result["metrics"][:2], out / name / "alpha_curve.png"):
        return [PageFigure("Reconstruction error and EPE over alpha (Fig 7.2)", f"{name}/alpha_curve.png", chart=True)]
    # A per-rival metric (psnr_q{rival}: each QF-specific model at its own QF) has no single axis; the
    # quality curves show it, and the chart shows the mean over QFs.
    metric = "psnr" if "{" in claim.metric else claim.metric
    if claim_chart(result["variants"], metric, claim.winner, out / name / "variants.png"):
        shown.append(PageFigure(f"{metric} per variant, mean ± std over seeds", f"{name}/variants.png", chart=True))
    if claim_quality_chart(curves, out / name / "quality_curve.png"):
        shown.append(PageFigure("PSNR/SSIM vs test QF per variant (Fig 6.4)", f"{name}/quality_curve.png", chart=True))
    return shown


def figure_lines(figures: Sequence[PageFigure], prefix: str) -> list[str]:
    """Figures and the figures directory's path relative to the page -> Markdown: the charts side by side on one
    line, then each copied image under its caption."""
    link = (prefix.rstrip("/") + "/") if prefix else ""
    lines = []
    charts = [f for f in figures if f.chart]
    if charts:
        lines += [" ".join(f"![{f.caption}]({link}{f.path})" for f in charts), ""]
    for f in figures:
        if not f.chart:
            lines += [f"*{f.caption}*", "", f"![{f.caption}]({link}{f.path})", ""]
    return lines
