"""Aggregate the claim experiments: mean ± std over seeds per variant, and whether each claim holds."""
from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path

import numpy as np

from components.config import ALPHA_SEPARATOR
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


HOLDS, FAILS, UNINFORMATIVE, INCOMPLETE = "holds", "does not hold", "uninformative", "incomplete"


def _beats(sign: float, ours: float, theirs: float, tolerance: float = 0.0) -> bool:
    """Whether `ours` beats `theirs` (strictly when tolerance is 0, else within -tolerance)."""
    margin = sign * (ours - theirs)
    return margin > 0 if tolerance == 0 else margin >= -tolerance


def verdict(claim: Claim, variants: dict[str, dict]) -> tuple[str, str]:
    """Variant statistics -> (status: holds | does not hold | uninformative | incomplete, one line saying why).

    Each comparison (`Claim.matchups`: the winner against each rival, or explicit pairs) is judged on its own: a
    rival that does not strictly beat the trivial baseline on the compared metric (or whose trivial baseline is
    unknown) makes that comparison uninformative. The claim holds when every informative comparison is won
    (within the claim's tolerance; the winner strictly beats the trivial baseline too where the claim asks for
    it) and at least one comparison is informative.
    """
    matchups = [(ours, rival) for ours, rival in claim.matchups if ours in variants and rival in variants]
    if not matchups or (claim.beats_trivial or claim.also_beats_trivial) and claim.winner not in variants:
        return INCOMPLETE, f"needs '{claim.winner}' and at least one of {', '.join(claim.rivals)}"
    sign = 1.0 if claim.higher_is_better else -1.0
    trivial = variants.get(TRIVIAL, {})
    beaten, informative, parts = True, 0, []
    for name, rival in matchups:
        metric = claim.metric_against(rival)
        ours, theirs = variants[name][metric]["mean"], variants[rival][metric]["mean"]
        part = f"{metric}: {name} {ours:.3f} vs {rival} {theirs:.3f}"
        if metric in trivial and _beats(sign, theirs, trivial[metric]["mean"]):
            informative += 1
            beaten &= _beats(sign, ours, theirs, claim.tolerance)
        else:
            known = f"trivial {trivial[metric]['mean']:.3f}" if metric in trivial else "trivial baseline unknown"
            part += f" (uninformative: {rival} does not beat the {known})"
        parts.append(part)
    against_trivial = ([(claim.metric, claim.higher_is_better)] if claim.beats_trivial else []) + list(claim.also_beats_trivial)
    for metric, higher in against_trivial:
        if metric not in trivial or metric not in variants[claim.winner]:
            return INCOMPLETE, "; ".join(parts + [f"the trivial baseline's or {claim.winner}'s {metric} is unknown"])
        ours, base = variants[claim.winner][metric]["mean"], trivial[metric]["mean"]
        beaten &= _beats(1.0 if higher else -1.0, ours, base)     # "beats the degraded input" is strict
        parts.append(f"{metric}: {claim.winner} {ours:.3f} vs trivial {base:.3f}")
    if claim.tolerance:
        parts.append(f"tolerance {claim.tolerance:g}")
    status = FAILS if not beaten else UNINFORMATIVE if not informative else HOLDS
    return status, "; ".join(parts)


def shifted_stats(by_variant: dict[str, list[dict]], winner: str) -> dict[str, dict[str, dict]]:
    """{variant: runs} -> {shifted split: {variant: {metric: {mean, std}}}} over the runs that scored every split,
    with the winner's runs' degraded input as variant 'trivial' (as for the test split)."""
    out: dict[str, dict[str, dict]] = defaultdict(dict)
    for variant, runs in sorted(by_variant.items()):
        for split in sorted(set.intersection(*(set(r.get("shifted") or {}) for r in runs))):
            scored = [r["shifted"][split] for r in runs]
            out[split][variant] = mean_std(scored, "model")
            if variant == winner:
                out[split][TRIVIAL] = mean_std(scored, "trivial")
    return dict(out)


def summarize_claims(runs: list[dict]) -> dict[str, dict]:
    """Run summaries -> {claim: {statement, seeds, metrics, variants: {variant: {metric: {mean, std}}}, status,
    holds, verdict, shifted: {split: {variant: {metric: {mean, std}}}}}}.

    Runs that store their trivial baseline's metrics add it, averaged over the winner's runs, as
    variant 'trivial' (for restoration: the degraded input). `shifted` holds the restoration runs'
    scores on the test sets of another generator than training's ({} for other claims).
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
        status, why = verdict(claim, variants)
        seeds = sorted({r["seed"] for rs in by_variant.values() for r in rs})
        out[claim_name] = {"statement": claim.statement, "seeds": seeds, "metrics": list(claim.shown),
                           "variants": variants, "status": status, "holds": status == HOLDS, "verdict": why,
                           "shifted": shifted_stats(by_variant, claim.winner)}
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


def plot_tables(curves: dict[str, list[dict]]) -> dict[str, list[dict]]:
    """Fig 6.4 rows per claim -> {"<claim>_<psnr|ssim>_by_quality": rows of quality and one column per variant}.

    Columns are named by the variant alone, so experiments/dvc.yaml can list them as the claim's configured
    variants (`${experiments.claims.<claim>.variants}`) and `dvc plots show` loads whatever variants are run.
    """
    tables = {}
    for name, rows in curves.items():
        for kind in ("psnr", "ssim"):
            tables[f"{name}_{kind}_by_quality"] = [
                {"quality": row["quality"], **{key.removeprefix(f"{kind}_"): value for key, value in row.items()
                                               if key.startswith(f"{kind}_")}} for row in rows]
    return tables


def alpha_curves(claims: dict[str, dict]) -> dict[str, list[dict]]:
    """Claims whose variants are '<model>_alpha<alpha>' -> {claim: one row per alpha} (Fig 7.2), each row
    {"alpha", "models": {model: {metric: {mean, std}}}, "trivial": {metric: {mean, std}}}."""
    curves = {}
    for name, result in claims.items():
        by_alpha: dict[float, dict[str, dict]] = defaultdict(dict)
        for variant, stats in result["variants"].items():
            model, _, alpha = variant.rpartition(ALPHA_SEPARATOR)
            if model:
                by_alpha[float(alpha)][model] = stats
        if by_alpha:
            curves[name] = [{"alpha": alpha, "models": dict(sorted(models.items())),
                             "trivial": result["variants"].get(TRIVIAL, {})} for alpha, models in sorted(by_alpha.items())]
    return curves


def alpha_plot_tables(claims: dict[str, dict], curves: dict[str, list[dict]]) -> dict[str, list[dict]]:
    """Fig 7.2 rows per claim -> {"<claim>_<metric>_by_alpha": rows of alpha, one column per model and `trivial`
    (means over seeds)} for each of the claim's shown metrics: the columns experiments/dvc.yaml's plots name."""
    tables = {}
    for name, rows in curves.items():
        for metric in claims[name]["metrics"]:
            tables[f"{name}_{metric}_by_alpha"] = [
                {"alpha": row["alpha"], **{model: stats[metric]["mean"] for model, stats in row["models"].items()
                                           if metric in stats},
                 **({TRIVIAL: row["trivial"][metric]["mean"]} if metric in row["trivial"] else {})} for row in rows]
    return tables
