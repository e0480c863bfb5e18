"""One Markdown page: every model's test metrics beside its trivial baseline and the thesis's numbers, with the
model's figures (written by components.report.figures) under its tables."""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Sequence

from components.report.figures import PageFigure, figure_lines
from components.report.shifted import shifted_section
from components.report.thesis import (DATASET_LABELS, TABLE_7_1, TABLE_7_2, THESIS_SIZE_MB, acceptance, passes,
                                      test_dataset, thesis_result)
from components.tasks import get_task

LOWER_IS_BETTER = ("mean", "median", "rmse", "abs_rel", "rmse_log")    # metrics outside a task's headline too


def read_evaluations(evaluate_dir: Path) -> dict[str, dict]:
    """results/evaluate/<model>/metrics.json -> {model: summary}."""
    return {path.parent.name: json.loads(path.read_text()) for path in sorted(evaluate_dir.glob("*/metrics.json"))}


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def _arrow(task_headline: dict[str, bool], metric: str) -> str:
    return "↑" if task_headline.get(metric, metric not in LOWER_IS_BETTER) else "↓"


def summary_section(evaluations: dict[str, dict]) -> list[str]:
    """Summaries -> one table row per model: its acceptance metric, ours vs trivial, PASS/FAIL."""
    lines = ["## At a glance", "", "| model | task | test data | acceptance metric | ours | trivial | vs trivial |",
             "|---|---|---|---|---|---|---|"]
    for name, summary in evaluations.items():
        task = get_task(summary["task"])
        metric = acceptance(name, task.name)[0]
        _, ok = passes(name, task.name, summary["model"], summary["trivial"])
        lines.append(f"| {name} | {task.name} | {data_label(summary)} | {metric} {_arrow(dict(task.headline), metric)} "
                     f"| {_fmt(summary['model'][metric])} | {_fmt(summary['trivial'][metric])} "
                     f"| {'PASS' if ok else '**FAIL**'} |")
    return lines + [""]


def data_label(summary: dict) -> str:
    """An evaluation summary -> the short name of the dataset its test split comes from."""
    dataset = test_dataset(summary["dataset"])
    return DATASET_LABELS.get(dataset, dataset)


def thesis_header(name: str, summary: dict) -> tuple[str, dict[str, float]]:
    """The thesis column's header for a model's evaluation, and its numbers: on the same dataset, or labelled
    as other (real) data when the thesis has none for the dataset we evaluated on."""
    result, same = thesis_result(name, test_dataset(summary["dataset"]))
    if result is None:
        return "thesis: n/a", {}
    return (f"thesis ({result.source})" if same else f"thesis (other data: {result.source})"), result.metrics


def model_section(name: str, summary: dict, figures: Sequence[PageFigure] = (), figures_link: str = "") -> list[str]:
    """One model's summary (and its figures) -> heading, acceptance line, metric table, images."""
    task = get_task(summary["task"])
    trivial = summary["trivial"]
    thesis_column, thesis = thesis_header(name, summary)
    check, ok = passes(name, task.name, summary["model"], trivial)
    version = summary["registered"]["version"]
    lines = [f"### {name} ({task.name}, registered version {version})", "",
             f"Acceptance vs trivial baseline: **{'PASS' if ok else 'FAIL'}** — {check}", ""]
    if "model_size" in summary:       # summaries from before sizes were recorded have none
        size = summary["model_size"]
        thesis_size = f" (thesis: {THESIS_SIZE_MB[name]:g} MB)" if name in THESIS_SIZE_MB else ""
        lines += [f"Model size: {size['parameters']:,} parameters, {size['size_mb']:.2f} MB{thesis_size}", ""]
    lines += [f"| metric | ours ({data_label(summary)} test) | trivial: {trivial['name']} | {thesis_column} |",
              "|---|---|---|---|"]
    headline = dict(task.headline)
    # JPEG models report per quality factor whether or not the thesis has numbers for them (the residual CNN).
    per_quality = sorted((m for m in summary["model"] if re.fullmatch(r"(psnr|ssim)_q\d+", m)),
                         key=lambda m: (int(m.split("_q")[1]), m))
    metrics = list(headline) + [m for m in thesis if m not in headline]
    for metric in metrics + [m for m in per_quality if m not in metrics]:
        lines.append(f"| {metric} {_arrow(headline, metric)} | {_fmt(summary['model'].get(metric))} "
                     f"| {_fmt(trivial.get(metric))} | {_fmt(thesis.get(metric))} |")
    return lines + [""] + figure_lines(figures, figures_link)


# Tables 6.1-6.3: per restoration task, the rows the thesis reports (JPEG: per quality factor).
RESTORATION_TABLES = {
    "deblur": ("Table 6.1 (non-uniform motion blur)", [("psnr", "ssim")]),
    "jpeg": ("Table 6.2 (JPEG artifact removal)", [("psnr_q10", "ssim_q10"), ("psnr_q20", "ssim_q20"),
                                                   ("psnr_q40", "ssim_q40")]),
    "sr": ("Table 6.3 (x4 super-resolution)", [("psnr", "ssim")]),
}


def restoration_section(evaluations: dict[str, dict]) -> list[str]:
    """Tables 6.1-6.3 layout: degraded input, residual CNN, PFF (ours) beside the thesis's direct-regression CNN
    and PFF, on the dataset we tested on when the thesis has it, else on the thesis's (labelled)."""
    lines = ["## Restoration (thesis Tables 6.1–6.3 layout; PSNR dB / SSIM)", "",
             "Our CNN column is the residual CNN `cnn_residual_<task>` (predicts a correction added to the input); "
             "the thesis's CNN is the direct-regression CNN (`cnn_<task>` here, trained only by the claim "
             "experiments).", ""]
    for task, (title, rows) in RESTORATION_TABLES.items():
        pff, cnn = evaluations.get(f"pff_{task}"), evaluations.get(f"cnn_residual_{task}")
        if pff is None and cnn is None:
            continue
        ours = pff or cnn
        dataset = test_dataset(ours["dataset"])
        thesis_pff, same = thesis_result(f"pff_{task}", dataset)
        thesis_cnn, _ = thesis_result(f"cnn_{task}", thesis_pff.dataset if thesis_pff else dataset)
        where = "" if thesis_pff is None else f" ({'' if same else 'other data: '}{thesis_pff.source})"
        lines += [f"### {title}: ours on {data_label(ours)}", "",
                  f"| setting | input | residual CNN (ours) | PFF (ours) | thesis: direct-regression CNN{where} "
                  f"| thesis: PFF{where} |", "|---|---|---|---|---|---|"]
        for psnr, ssim in rows:
            def pair(metrics: dict | None) -> str:
                if not metrics or psnr not in metrics:
                    return "—"
                return f"{metrics[psnr]:.2f} / {metrics[ssim]:.3f}"
            setting = data_label(ours) if psnr == "psnr" else f"QF {psnr.split('_q')[1]}"
            lines.append(f"| {setting} | {pair(ours['trivial'])} "
                         f"| {pair(cnn and cnn['model'])} | {pair(pff and pff['model'])} "
                         f"| {pair(thesis_cnn and thesis_cnn.metrics)} | {pair(thesis_pff and thesis_pff.metrics)} |")
        lines.append("")
    return lines


VIDEO_ROWS = (("identity", "identity (zero flow)"), ("flownet_s", "optical flow: flownet_s"), ("mgpff", "mgPFF: mgpff"))


def video_section(evaluations: dict[str, dict]) -> list[str]:
    """Tables 7.2 and 7.1 layout: identity, optical flow (flownet_s) and mgPFF on our test clips, beside the
    thesis's rows on DAVIS-2017 val (other data: not comparable one-to-one)."""
    models = {name: evaluations[name] for name, _ in VIDEO_ROWS if name in evaluations}
    if not models:
        return []
    first = next(iter(models.values()))
    rows = {"identity": first["trivial"], **{name: summary["model"] for name, summary in models.items()}}
    lines = ["## Video (thesis Tables 7.2 and 7.1 layout)", "",
             f"Ours on the test split of {data_label(first)}; the thesis's on DAVIS-2017 val (other data). Its optical "
             "flow is the supervised FlowNet2; ours is FlowNetS trained supervised on the training clips' flow.", ""]
    for title, table, metrics in (
            ("Table 7.2: long-range reconstruction, mean L1 on 0–255 ↓", TABLE_7_2, ("recon_l1_m5", "recon_l1_m10")),
            ("Table 7.1: tracking by mask propagation ↑", TABLE_7_1,
             ("track_J_mean", "track_J_recall", "track_F_mean", "track_F_recall"))):
        lines += [f"### {title}", "",
                  "| method | " + " | ".join(metrics) + " | thesis method | " + " | ".join(f"thesis {m}" for m in metrics) + " |",
                  "|---" * (2 * len(metrics) + 2) + "|"]
        for name, label in VIDEO_ROWS:
            if name not in rows:
                continue
            thesis_label, thesis = table[name]
            lines.append(f"| {label} | " + " | ".join(_fmt(rows[name].get(m)) for m in metrics) + f" | {thesis_label} | "
                         + " | ".join(_fmt(thesis.get(m)) for m in metrics) + " |")
        lines.append("")
    return lines


def render_report(evaluations: dict[str, dict], figures: dict[str, list[PageFigure]] | None = None,
                  figures_link: str = "", claims_link: str | None = None) -> str:
    """Summaries, their figures and the figures directory's path relative to the page -> the Markdown page.

    `claims_link` (the claims page relative to this one) adds a pointer to the thesis-claims experiments.
    """
    figures = figures or {}
    lines = ["# pixelpred report", "",
             "Each number is labelled with the dataset it comes from. The thesis's are on the real datasets its "
             "tables name; where we evaluated on other data (the embedded synthetic sets), its column says "
             "**other data**: those are not comparable one-to-one. Fractions, not percent; angles in degrees.", ""]
    if claims_link:
        lines += [f"The thesis claims (SPEC §8: losses, PFF vs CNN, Fig 6.4), retrained over seeds by "
                  f"`make experiments`: [claims page]({claims_link}).", ""]
    lines += summary_section(evaluations) + ["## Models", ""]
    for name, summary in evaluations.items():
        lines += model_section(name, summary, figures.get(name, []), figures_link)
    lines += restoration_section(evaluations)
    lines += video_section(evaluations)
    lines += shifted_section(evaluations)
    return "\n".join(lines) + "\n"
