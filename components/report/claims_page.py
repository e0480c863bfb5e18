"""The claims page: per thesis claim, mean ± std over seeds beside the thesis's numbers, its status, its charts,
and the restoration runs' scores beyond the training generator."""
from __future__ import annotations

from components.report.claims import FAILS, HOLDS, INCOMPLETE, TRIVIAL, UNINFORMATIVE
from components.report.figures import PageFigure, figure_lines
from components.report.shifted import SHIFTED_SET_DESCRIPTIONS, shifted_table, shortfall_sentence
from components.report.thesis import CLAIMS

# status -> what it means, said next to it so a reader needs no other page
STATUS_MEANING = {
    HOLDS: "the recommended variant matches or beats every informative rival",
    FAILS: "the recommended variant loses to an informative rival (or, where required, does not beat the trivial "
           "baseline)",
    UNINFORMATIVE: "no rival beats the trivial baseline, so beating them is no evidence either way",
    INCOMPLETE: "runs are missing: the claim cannot be judged",
}


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def status_line(result: dict) -> str:
    """A claims.json entry -> one line: the status in bold (upper case unless it holds), its meaning, the seeds."""
    status = result["status"]
    shown = status if status == HOLDS else status.upper()
    return f"Status on synth: **{shown}** — {STATUS_MEANING.get(status, '')}. Seeds: {result['seeds']}."


def claim_table(claim: str, result: dict) -> list[str]:
    """A claims.json entry -> table of variant x shown metrics: ours (mean ± std) beside the thesis's."""
    source, thesis = CLAIMS[claim].source, CLAIMS[claim].thesis
    metric_names = result["metrics"]
    lines = ["| variant | " + " | ".join(f"{m} (ours)" for m in metric_names)
             + " | " + " | ".join(f"{m} (thesis: {source})" for m in metric_names) + " |",
             "|---|" + "---|" * (2 * len(metric_names))]
    for variant, stats in result["variants"].items():
        ours = " | ".join(f"{stats[m]['mean']:.3f} ± {stats[m]['std']:.3f}" if m in stats else "—" for m in metric_names)
        theirs = " | ".join(_fmt(thesis.get(variant, {}).get(m)) for m in metric_names)
        lines.append(f"| {variant} | {ours} | {theirs} |")
    return lines


def claim_shifted(result: dict) -> list[str]:
    """A claims.json entry's `shifted` -> per split, each variant beside the degraded input ([] when absent)."""
    shifted = result.get("shifted") or {}
    if not shifted:
        return []
    lines, shortfalls = [], []
    for split, by_variant in shifted.items():
        entries = [(variant, stats, by_variant.get(TRIVIAL, {})) for variant, stats in by_variant.items()
                   if variant != TRIVIAL]
        table, missed = shifted_table(split, entries)
        lines += [f"*{split}: {SHIFTED_SET_DESCRIPTIONS.get(split, 'another generator than training')}*", "", *table, ""]
        shortfalls += missed
    return ["#### Beyond the training generator (mean ± std over seeds)", "", shortfall_sentence(shortfalls), "",
            *lines]


def render_claims_page(claims: dict[str, dict], figures: dict[str, list[PageFigure]] | None = None,
                       figures_link: str = "", report_link: str | None = None) -> str:
    """claims.json, each claim's figures and the figures directory relative to the page -> the Markdown page."""
    figures = figures or {}
    lines = ["# pixelpred: thesis claims (SPEC §8; mean ± std over seeds)", "",
             "Each claim retrains its variants once per seed on the embedded synthetic data (`make experiments`); "
             "the thesis's numbers are on real datasets (**not comparable one-to-one**). A rival that does not beat "
             "the trivial baseline (restoration: the degraded input) is no evidence, and a claim with only such "
             "rivals is **UNINFORMATIVE**.", ""]
    if report_link:
        lines += [f"Every model of the main job, with its figures: [report]({report_link}).", ""]
    lines += ["| claim | status | statement |", "|---|---|---|"]
    for claim, result in claims.items():
        status = result["status"]
        lines.append(f"| {claim} | **{status if status == HOLDS else status.upper()}** | {result['statement']} |")
    lines.append("")
    for claim, result in claims.items():
        lines += [f"### {claim}: {result['statement']}", "", status_line(result), "",
                  f"Why: {result['verdict']}.", "", *claim_table(claim, result), ""]
        lines += figure_lines(figures.get(claim, []), figures_link)
        lines += claim_shifted(result)
    return "\n".join(lines) + "\n"
