"""Beyond the training generator: restoration models on the fixed test sets that another generator made
(camera shake, other JPEG settings, box downsampling), each beside its degraded input."""
from __future__ import annotations

import re

# shifted test split (degrade stage) -> how its inputs differ from training's (degrade.shifted in params.yaml)
SHIFTED_SET_DESCRIPTIONS: dict[str, str] = {
    "deblur_shake": "camera-shake blur along random trajectories (training: linear motion blur)",
    "jpeg_shift": "JPEG at other (quality, chroma subsampling) pairs than training's 4:2:0 "
                  "(default: QF 10 at 4:4:4, the untrained QF 30 at 4:2:0)",
    "sr_box": "x4 low-resolution images made by another downsampler (default: box; training: bicubic)",
}

Stat = float | dict   # one number, or {"mean", "std"} over seeds (claim runs)


def settings(metrics: dict[str, Stat]) -> list[tuple[str, str, str]]:
    """A split's metric names -> (row label, PSNR key, SSIM key): one row per JPEG QF when present, else one row."""
    qualities = sorted({int(match[1]) for key in metrics if (match := re.fullmatch(r"psnr_q(\d+)", key))})
    if qualities:
        return [(f"QF {q}", f"psnr_q{q}", f"ssim_q{q}") for q in qualities]
    return [("all images", "psnr", "ssim")]


def _mean(value: Stat) -> float:
    return value["mean"] if isinstance(value, dict) else value


def _number(value: Stat, digits: int) -> str:
    if isinstance(value, dict):
        return f"{value['mean']:.{digits}f} ± {value['std']:.{digits}f}"
    return f"{value:.{digits}f}"


def _pair(metrics: dict[str, Stat], psnr: str, ssim: str) -> str:
    if psnr not in metrics:
        return "—"
    return _number(metrics[psnr], 2) + (f" / {_number(metrics[ssim], 3)}" if ssim in metrics else "")


def shifted_table(split: str, entries: list[tuple[str, dict[str, Stat], dict[str, Stat]]]) -> tuple[list[str], list[str]]:
    """(name, model metrics, degraded input's metrics) on one shifted split -> (Markdown table lines, one phrase per
    row where the model is not strictly above its input in PSNR)."""
    lines = ["| model | setting | input PSNR / SSIM | model PSNR / SSIM | beats the input (PSNR)? |",
             "|---|---|---|---|---|"]
    shortfalls = []
    for name, model, trivial in entries:
        for label, psnr, ssim in settings(model):
            if psnr not in model or psnr not in trivial:
                beats = "n/a"          # no input numbers to compare with: neither yes nor no
            elif _mean(model[psnr]) > _mean(trivial[psnr]):
                beats = "yes"
            else:
                beats = "**no**"
                shortfalls.append(f"{name} on {split} ({label}: {_mean(model[psnr]):.2f} dB vs input "
                                  f"{_mean(trivial[psnr]):.2f} dB)")
            lines.append(f"| {name} | {label} | {_pair(trivial, psnr, ssim)} | {_pair(model, psnr, ssim)} | {beats} |")
    return lines, shortfalls


def shortfall_sentence(shortfalls: list[str]) -> str:
    """Rows where a model is not above its input -> one plain sentence saying so (or that there are none)."""
    if not shortfalls:
        return "Every model here is above its degraded input in PSNR on every shifted set."
    return "**Not above the degraded input** (PSNR; matching it is not beating it): " + "; ".join(shortfalls) + "."


def shifted_section(evaluations: dict[str, dict]) -> list[str]:
    """Evaluation summaries with `shifted` -> the report's "Beyond the training generator" section ([] if none)."""
    splits = sorted({split for summary in evaluations.values() for split in summary.get("shifted") or {}})
    if not splits:
        return []
    body, shortfalls = [], []
    for split in splits:
        entries = [(name, summary["shifted"][split]["model"], summary["shifted"][split]["trivial"])
                   for name, summary in evaluations.items() if split in (summary.get("shifted") or {})]
        table, missed = shifted_table(split, entries)
        body += [f"### {split}: {SHIFTED_SET_DESCRIPTIONS.get(split, 'another generator than training')}", "", *table, ""]
        shortfalls += missed
    return ["## Beyond the training generator", "",
            "Fixed test sets of the held-out photos degraded by another generator than the one the models trained "
            "on; the trivial baseline is the degraded input itself (PSNR dB / SSIM, channels as in Tables 6.1–6.3).",
            "", shortfall_sentence(shortfalls), "", *body]
