"""`qgen quiz tune-gate`: choose the retrieval gate (P, M) from two result.json files, with no model calls.

`--without` is a run without retrieval, `--with` a run that retrieved for every question (`--retrieve-all`); questions
are matched by (file name, id). For thresholds (P, M) the gated answer of a question is the `--with` answer when
top1 < P or margin < M (of the `--without` run), else the `--without` answer. Candidates are the observed top1 /
margin values (at most 200 quantiles each) plus 0 (never) and 1.01 (always); the pair with the highest accuracy on the
tuning questions wins, ties going to the lower retrieval rate, then the lower P and M. `--budget R` keeps only pairs
retrieving for at most R of the tuning questions. Tuning questions: `--tune-fraction F` holds out a deterministic
part (crc32 of the id) for reporting; or `--test-without/--test-with` give a separate split.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from qgen.core.errors import QgenInputError
from qgen.data.jsonfile import load_json


def _load(path: str | Path) -> dict:
    data = load_json(path)
    if not isinstance(data, list):
        raise QgenInputError("expected the list of records of a quiz result.json", path=path)
    out = {}
    for n, r in enumerate(data, 1):
        for key in ("id", "file", "correct", "confidence", "margin"):
            if not isinstance(r, dict) or key not in r:
                raise QgenInputError("missing key", path=path, record=n, field=key)
        out[(Path(r["file"]).name, str(r["id"]))] = r
    return out


def paired(without_path: str | Path, with_path: str | Path) -> dict[str, np.ndarray]:
    """Arrays over the questions of both files: top1, margin (first pass), correct without / with retrieval, ids."""
    a, b = _load(without_path), _load(with_path)
    keys = [k for k in a if k in b]
    if not keys:
        raise QgenInputError(f"no question of {without_path} is in {with_path} (matched by file name and id)")
    if len(keys) < len(a) or len(keys) < len(b):
        print(f"warning: {len(a) - len(keys)} / {len(b) - len(keys)} questions are only in one of the two files")
    return {"top1": np.array([a[k]["confidence"] for k in keys], dtype=float),
            "margin": np.array([a[k]["margin"] for k in keys], dtype=float),
            "plain": np.array([bool(a[k]["correct"]) for k in keys]),
            "retrieved": np.array([bool(b[k]["correct"]) for k in keys]),
            "ids": np.array([k[1] for k in keys])}


def subset(d: dict, mask: np.ndarray) -> dict:
    """The questions of `d` where `mask` is True."""
    return {k: v[mask] for k, v in d.items()}


def evaluate_gate(d: dict, p: float, m: float) -> dict:
    """Accuracy and retrieval rate when retrieval fires below top-1 probability `p` or margin `m`."""
    fire = (d["top1"] < p) | (d["margin"] < m)
    correct = np.where(fire, d["retrieved"], d["plain"])
    n = len(correct)
    return {"n": n, "accuracy": float(correct.mean()) if n else None, "retrieval_rate": float(fire.mean()) if n else None,
            "accuracy_without": float(d["plain"].mean()) if n else None,
            "accuracy_with_all": float(d["retrieved"].mean()) if n else None}


def _candidates(values: np.ndarray, most: int = 200) -> np.ndarray:
    u = np.unique(values)
    if len(u) > most:
        u = np.unique(np.quantile(values, np.linspace(0, 1, most)))
    # "x < t" separates at observed values; nextafter puts a threshold just above each so that value also fires
    return np.unique(np.concatenate([[0.0, 1.01], u, np.nextafter(u, 2.0)]))


def tune(d: dict, budget: float | None = None) -> dict:
    """The (p, m) thresholds with the best accuracy (within a retrieval-rate `budget`, if given)."""
    ps, ms = _candidates(d["top1"]), _candidates(d["margin"])
    fire_p = d["top1"][None, :] < ps[:, None]  # (P, n)
    fire_m = d["margin"][None, :] < ms[:, None]  # (M, n)
    best = None
    for i, p in enumerate(ps):
        fire = fire_p[i][None, :] | fire_m  # (M, n)
        correct = np.where(fire, d["retrieved"][None, :], d["plain"][None, :])
        acc, rate = correct.mean(axis=1), fire.mean(axis=1)
        for j in range(len(ms)):
            if budget is not None and rate[j] > budget + 1e-12:
                continue
            key = (-acc[j], rate[j], p, ms[j])
            if best is None or key < best[0]:
                best = (key, float(p), float(ms[j]))
    if best is None:
        raise QgenInputError(f"no gate keeps the retrieval rate within the budget {budget}")
    _, p, m = best
    return {"gate_top1": p, "gate_margin": m, "tuned_on": evaluate_gate(d, p, m)}
