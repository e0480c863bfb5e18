"""Aggregate the claim experiments: mean ± std over seeds per loss, and whether each claim holds."""
from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from components.errors import PixelpredError
from components.report.thesis import CLAIMS


def read_runs(runs_dir: Path) -> list[dict]:
    """results/claims/<claim>-<loss>-s<seed>/metrics.json -> list of run summaries."""
    runs = [json.loads(p.read_text()) for p in sorted(runs_dir.glob("*/metrics.json"))]
    if not runs:
        raise PixelpredError(f"no experiment runs under {runs_dir} (run the ablate stages first)")
    return runs


def summarize_claims(runs: list[dict]) -> dict[str, dict]:
    """Run summaries -> {claim: {statement, seeds, variants: {kind: {metric: {mean, std}}}, holds, verdict}}."""
    grouped: dict[str, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for run in runs:
        grouped[run["claim"]][run["loss_kind"]].append(run)
    out = {}
    for claim_name, by_kind in grouped.items():
        claim = CLAIMS[claim_name]
        variants = {kind: {m: {"mean": float(np.mean([r["metrics"][m] for r in rs])),
                               "std": float(np.std([r["metrics"][m] for r in rs]))} for m in claim.shown}
                    for kind, rs in sorted(by_kind.items())}
        present = [k for k in (claim.winner, *claim.rivals) if k in variants]
        if claim.winner not in variants or len(present) < 2:
            holds, verdict = False, f"needs '{claim.winner}' and at least one of {claim.rivals}"
        else:
            sign = 1.0 if claim.higher_is_better else -1.0
            best = variants[claim.winner][claim.metric]["mean"]
            rivals = {k: variants[k][claim.metric]["mean"] for k in claim.rivals if k in variants}
            holds = all(sign * (best - v) >= 0 for v in rivals.values())
            verdict = f"{claim.metric}: {claim.winner} {best:.3f} vs " + ", ".join(f"{k} {v:.3f}" for k, v in rivals.items())
        seeds = sorted({r["seed"] for rs in by_kind.values() for r in rs})
        out[claim_name] = {"statement": claim.statement, "seeds": seeds, "metrics": list(claim.shown),
                           "variants": variants, "holds": holds, "verdict": verdict}
    return out
