"""Aggregate the claim experiments: mean ± std over seeds per variant, and whether each claim holds."""
from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path

import numpy as np

from components.errors import PixelpredError
from components.report.thesis import CLAIMS, Claim

TRIVIAL = "trivial"   # the runs' trivial baseline (restoration: the degraded input) as a pseudo-variant


def read_runs(runs_dir: Path) -> list[dict]:
    """results/claims/<claim>-<variant>-s<seed>/metrics.json -> list of run summaries."""
    runs = [json.loads(p.read_text()) for p in sorted(runs_dir.glob("*/metrics.json"))]
    if not runs:
        raise PixelpredError(f"no experiment runs under {runs_dir} (run the ablate stages first)")
    return runs


def mean_std(runs: list[dict], key: str) -> dict[str, dict[str, float]]:
    """Runs -> {metric: {mean, std}} over seeds of run[key] (metrics or trivial_metrics), for every metric all runs have."""
    metrics = set.intersection(*(set(r[key]) for r in runs))
    return {m: {"mean": float(np.mean([r[key][m] for r in runs])), "std": float(np.std([r[key][m] for r in runs]))}
            for m in sorted(metrics)}


def verdict(claim: Claim, variants: dict[str, dict]) -> tuple[bool, str]:
    """Variant statistics -> (holds, one line saying why)."""
    rivals = [k for k in (*claim.rivals, *([TRIVIAL] if claim.beats_trivial else [])) if k in variants]
    if claim.winner not in variants or not rivals:
        return False, f"needs '{claim.winner}' and at least one of {claim.rivals}"
    sign = 1.0 if claim.higher_is_better else -1.0
    holds, parts = True, []
    for rival in rivals:
        metric = claim.metric_against(rival) if rival != TRIVIAL else claim.metric
        ours, theirs = variants[claim.winner][metric]["mean"], variants[rival][metric]["mean"]
        margin = sign * (ours - theirs)
        # "Beats the degraded input" is strict; against a rival, matching (within tolerance) suffices.
        holds &= margin > 0 if rival == TRIVIAL else margin >= -claim.tolerance
        parts.append(f"{metric}: {claim.winner} {ours:.3f} vs {rival} {theirs:.3f}")
    if claim.tolerance:
        parts.append(f"tolerance {claim.tolerance:g}")
    return bool(holds), "; ".join(parts)


def summarize_claims(runs: list[dict]) -> dict[str, dict]:
    """Run summaries -> {claim: {statement, seeds, metrics, variants: {variant: {metric: {mean, std}}}, holds, verdict}}.

    Runs that store their trivial baseline's metrics add it, averaged over the winner's runs, as
    variant 'trivial' (for restoration: the degraded input).
    """
    grouped: dict[str, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for run in runs:
        grouped[run["claim"]][run["variant"]].append(run)
    out = {}
    for claim_name, by_variant in grouped.items():
        claim = CLAIMS[claim_name]
        variants = {variant: mean_std(rs, "metrics") for variant, rs in sorted(by_variant.items())}
        winner_runs = by_variant.get(claim.winner, [])
        if winner_runs and all("trivial_metrics" in r for r in winner_runs):
            variants[TRIVIAL] = mean_std(winner_runs, "trivial_metrics")
        holds, why = verdict(claim, variants)
        seeds = sorted({r["seed"] for rs in by_variant.values() for r in rs})
        out[claim_name] = {"statement": claim.statement, "seeds": seeds, "metrics": list(claim.shown),
                           "variants": variants, "holds": holds, "verdict": why}
    return out


def quality_curves(claims: dict[str, dict]) -> dict[str, list[dict]]:
    """Claims whose variants report per-quality PSNR/SSIM -> {claim: rows of quality x variant} (Fig. 6.4).

    One row per JPEG quality factor: `psnr_<variant>` and `ssim_<variant>` (means over seeds).
    """
    curves = {}
    for name, result in claims.items():
        qualities = sorted({int(match[1]) for stats in result["variants"].values() for m in stats
                            if (match := re.fullmatch(r"psnr_q(\d+)", m))})
        if not qualities:
            continue
        curves[name] = [{"quality": q, **{f"{kind}_{variant}": stats[f"{kind}_q{q}"]["mean"]
                                          for variant, stats in result["variants"].items()
                                          for kind in ("psnr", "ssim") if f"{kind}_q{q}" in stats}}
                        for q in qualities]
    return curves
