"""One Markdown page: every model's test metrics beside its trivial baseline and the thesis's numbers."""
from __future__ import annotations

import json
from pathlib import Path

from components.report.thesis import CLAIMS, THESIS_NUMBERS, passes
from components.tasks import get_task


def read_evaluations(evaluate_dir: Path) -> dict[str, dict]:
    """results/evaluate/<model>/metrics.json -> {model: summary}."""
    return {path.parent.name: json.loads(path.read_text()) for path in sorted(evaluate_dir.glob("*/metrics.json"))}


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def model_section(name: str, summary: dict) -> list[str]:
    task = get_task(summary["task"])
    trivial = summary["trivial"]
    source, thesis = THESIS_NUMBERS.get(name, ("", {}))
    check, ok = passes(task.name, summary["model"], trivial)
    version = summary["registered"]["version"]
    lines = [f"### {name} ({task.name}, registered version {version})", "",
             f"Acceptance vs trivial baseline: **{'PASS' if ok else 'FAIL'}** — {check}", "",
             f"| metric | ours (synth test) | trivial: {trivial['name']} | thesis (real data: {source or 'n/a'}) |",
             "|---|---|---|---|"]
    metrics = [m for m, _ in task.headline] + [m for m in thesis if m not in dict(task.headline)]
    for metric in metrics:
        arrow = "↑" if dict(task.headline).get(metric, metric not in ("mean", "median", "rmse")) else "↓"
        lines.append(f"| {metric} {arrow} | {_fmt(summary['model'].get(metric))} | {_fmt(trivial.get(metric))} "
                     f"| {_fmt(thesis.get(metric))} |")
    return lines + [""]


# Tables 6.1-6.3: per restoration task, the rows the thesis reports (JPEG: per quality factor).
RESTORATION_TABLES = {
    "deblur": ("Table 6.1 (non-uniform motion blur)", [("psnr", "ssim")]),
    "jpeg": ("Table 6.2 (JPEG artifact removal)", [("psnr_q10", "ssim_q10"), ("psnr_q20", "ssim_q20"),
                                                   ("psnr_q40", "ssim_q40")]),
    "sr": ("Table 6.3 (x4 super-resolution)", [("psnr", "ssim")]),
}


def restoration_section(evaluations: dict[str, dict]) -> list[str]:
    """Tables 6.1-6.3 layout: degraded input, CNN, PFF (ours, held-out photos) beside the thesis's CNN and PFF."""
    lines = ["## Restoration (thesis Tables 6.1–6.3 layout; PSNR dB / SSIM on the held-out photos)", ""]
    for task, (title, rows) in RESTORATION_TABLES.items():
        pff, cnn = evaluations.get(f"pff_{task}"), evaluations.get(f"cnn_{task}")
        if pff is None and cnn is None:
            continue
        degraded = (pff or cnn)["trivial"]
        thesis_pff, thesis_cnn = THESIS_NUMBERS.get(f"pff_{task}", ("", {}))[1], THESIS_NUMBERS.get(f"cnn_{task}", ("", {}))[1]
        lines += [f"### {title}", "", "| setting | input | CNN | PFF | thesis CNN | thesis PFF |", "|---|---|---|---|---|---|"]
        for psnr, ssim in rows:
            def pair(metrics: dict | None) -> str:
                if not metrics or psnr not in metrics:
                    return "—"
                return f"{metrics[psnr]:.2f} / {metrics[ssim]:.3f}"
            setting = "test photos" if psnr == "psnr" else f"QF {psnr.split('_q')[1]}"
            lines.append(f"| {setting} | {pair(degraded)} "
                         f"| {pair(cnn and cnn['model'])} | {pair(pff and pff['model'])} "
                         f"| {pair(thesis_cnn)} | {pair(thesis_pff)} |")
        lines.append("")
    return lines


def claims_section(claims: dict) -> list[str]:
    """claims.json (experiments pipeline) -> one table per claim with mean ± std over seeds."""
    lines = ["## Thesis claims (SPEC §8; mean ± std over seeds)", ""]
    for claim, result in claims.items():
        source, thesis = CLAIMS[claim].source, CLAIMS[claim].thesis
        metric_names = result["metrics"]
        lines += [f"### {claim}: {result['statement']}", "",
                  f"Seeds: {result['seeds']}. Holds on synth: **{'yes' if result['holds'] else 'no'}** "
                  f"({result['verdict']}).", "",
                  "| variant | " + " | ".join(f"{m} (ours)" for m in metric_names)
                  + " | " + " | ".join(f"{m} (thesis: {source})" for m in metric_names) + " |",
                  "|---|" + "---|" * (2 * len(metric_names))]
        for variant, stats in result["variants"].items():
            ours = " | ".join(f"{stats[m]['mean']:.3f} ± {stats[m]['std']:.3f}" if m in stats else "—" for m in metric_names)
            theirs = " | ".join(_fmt(thesis.get(variant, {}).get(m)) for m in metric_names)
            lines.append(f"| {variant} | {ours} | {theirs} |")
        lines.append("")
    return lines


def render_report(evaluations: dict[str, dict], claims: dict | None = None) -> str:
    lines = ["# pixelpred report", "",
             "Our numbers are on the embedded synthetic test split; the thesis's are on the real datasets named "
             "in each column header (**real-data numbers, not comparable one-to-one**). Fractions, not percent; "
             "angles in degrees.", "", "## Models", ""]
    for name, summary in evaluations.items():
        lines += model_section(name, summary)
    lines += restoration_section(evaluations)
    if claims:
        lines += claims_section(claims)
    return "\n".join(lines) + "\n"
