"""How far a multiple-choice scorer's probabilities can be trusted: accuracy, NLL, Brier, ECE, AURC, reliability plot.

Inputs are per-question probability vectors over the choices (rows sum to 1) and the gold choice index. The prediction
is the argmax unless `pred` is given (generation parses its answer; an unparseable answer is `None` and counts as wrong).
Confidence is the top-1 probability. Definitions (all over the n questions):
- NLL = mean of -log p[gold] (p clipped at 1e-12);
- Brier = mean of sum_k (p_k - [k == gold])^2, the multi-class form (0 best, 2 worst);
- ECE = sum over 15 equal-width confidence bins (lo, hi] (the first bin also takes 0) of |bin|/n * |acc(bin) - conf(bin)|;
- AURC = mean over k = 1..n of the error rate of the k most confident answers (questions sorted by confidence,
  highest first, ties kept in input order) — the area under the risk–coverage curve; lower is better;
- chance_accuracy = 1 / choices, and `at_chance` when the answers look like guessing (`at_chance`): a scorer with
  probabilities ~1/choices everywhere gets an excellent ECE while knowing nothing, so its figures carry a note.
Importable without torch (a notebook can use it on a result.json alone).
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

from qgen.core.errors import PathArg
from qgen.core.files import atomic_write

N_BINS = 15
EPS = 1e-12


def _arrays(probs: ArrayLike, gold: ArrayLike,
            pred: Sequence | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    p = np.asarray(probs, dtype=np.float64)
    g = np.asarray(gold, dtype=np.int64)
    if p.ndim != 2 or p.shape[0] != g.shape[0]:
        raise ValueError(f"probs must be (n, choices) matching gold; got {p.shape} and {g.shape}")
    if pred is None:
        correct = p.argmax(axis=1) == g
    else:
        correct = np.array([q is not None and int(q) == int(t) for q, t in zip(pred, g)], dtype=bool)
    return p, g, correct


def confidence(probs: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """(top-1 probability, top-1 minus top-2 probability) per row."""
    p = np.sort(np.asarray(probs, dtype=np.float64), axis=1)[:, ::-1]
    second = p[:, 1] if p.shape[1] > 1 else np.zeros(len(p))
    return p[:, 0], p[:, 0] - second


def nll(probs: ArrayLike, gold: ArrayLike) -> float:
    """Mean negative log-likelihood of the gold choice (clipped at EPS): punishes confident mistakes hardest."""
    p, g, _ = _arrays(probs, gold)
    return float(-np.log(np.clip(p[np.arange(len(g)), g], EPS, 1.0)).mean())


def brier(probs: ArrayLike, gold: ArrayLike) -> float:
    """Brier score over all choices: bounded, unlike NLL, so one certain mistake does not dominate the mean."""
    p, g, _ = _arrays(probs, gold)
    onehot = np.zeros_like(p)
    onehot[np.arange(len(g)), g] = 1.0
    return float(((p - onehot) ** 2).sum(axis=1).mean())


def reliability_bins(conf: ArrayLike, correct: ArrayLike, n_bins: int = N_BINS) -> list[dict]:
    """Per bin (lo, hi]: count, mean confidence, accuracy (None for an empty bin)."""
    conf = np.asarray(conf, dtype=np.float64)
    correct = np.asarray(correct, dtype=np.float64)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # bin b holds edges[b] < c <= edges[b+1]; c == 0 goes to bin 0
    idx = np.clip(np.searchsorted(edges, conf, side="left") - 1, 0, n_bins - 1)
    out = []
    for b in range(n_bins):
        mask = idx == b
        n = int(mask.sum())
        out.append({"lo": float(edges[b]), "hi": float(edges[b + 1]), "count": n,
                    "confidence": float(conf[mask].mean()) if n else None,
                    "accuracy": float(correct[mask].mean()) if n else None})
    return out


def ece(conf: ArrayLike, correct: ArrayLike, n_bins: int = N_BINS) -> float:
    """Expected calibration error: the count-weighted gap between confidence and accuracy over the bins."""
    total = len(conf)
    if total == 0:
        return 0.0
    return float(sum(b["count"] / total * abs(b["accuracy"] - b["confidence"])
                     for b in reliability_bins(conf, correct, n_bins) if b["count"]))


def risk_coverage(conf: ArrayLike, correct: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """(coverage k/n, accuracy of the k most confident) for k = 1..n."""
    conf = np.asarray(conf, dtype=np.float64)
    order = np.argsort(-conf, kind="stable")
    hits = np.cumsum(np.asarray(correct, dtype=np.float64)[order])
    k = np.arange(1, len(conf) + 1)
    return k / len(conf), hits / k


def aurc(conf: ArrayLike, correct: ArrayLike) -> float:
    """Area under the risk-coverage curve: how much abstaining on the least confident answers would help."""
    if len(conf) == 0:
        return 0.0
    _, acc = risk_coverage(conf, correct)
    return float((1.0 - acc).mean())


def summary(probs: ArrayLike, gold: ArrayLike, pred: Sequence | None = None, n_bins: int = N_BINS) -> dict:
    """All metrics for one set of questions (an empty set gives n = 0 and no metrics)."""
    if len(gold) == 0:
        return {"n": 0}
    p, g, correct = _arrays(probs, gold, pred)
    top1, margin = confidence(p)
    chance = 1.0 / p.shape[1]
    out = {
        "n": int(len(g)),
        "accuracy": float(correct.mean()),
        "nll": nll(p, g),
        "brier": brier(p, g),
        "ece": ece(top1, correct, n_bins),
        "aurc": aurc(top1, correct),
        "mean_confidence": float(top1.mean()),
        "mean_margin": float(margin.mean()),
        "chance_accuracy": chance,
    }
    out["at_chance"] = at_chance(out)
    return out


CHANCE_CONFIDENCE_MARGIN = 0.05  # mean top-1 probability within this of 1/choices: the scorer hardly prefers any


def at_chance(block: dict) -> bool:
    """True when a summary looks like guessing: accuracy within two standard errors of 1/choices (binomial), or a
    mean confidence within CHANCE_CONFIDENCE_MARGIN of it. Then a small ECE says only that a scorer which knows
    nothing says so, not that its confidence is useful."""
    chance, n = block["chance_accuracy"], block["n"]
    noise = 2 * (chance * (1 - chance) / max(n, 1)) ** 0.5
    return bool(block["accuracy"] <= chance + noise
                or block["mean_confidence"] <= chance + CHANCE_CONFIDENCE_MARGIN)


def chance_note(block: dict) -> str | None:
    """The note printed beside the figures of a summary at chance (see `at_chance`), else None."""
    if not block.get("at_chance"):
        return None
    head = (f"at chance: accuracy {block['accuracy']:.3f} and mean confidence {block['mean_confidence']:.3f} against "
            f"{block['chance_accuracy']:.3f} for guessing among the choices")
    if block["mean_confidence"] <= block["chance_accuracy"] + CHANCE_CONFIDENCE_MARGIN:
        return head + "; a low ECE / Brier here says only that a scorer which knows nothing says so"
    return head + f" (n={block['n']}): the accuracy does not tell this scorer from guessing"


def plot_reliability(path: PathArg, conf: ArrayLike, correct: ArrayLike, title: str = "", n_bins: int = N_BINS) -> None:
    """Reliability diagram (accuracy per confidence bin against the diagonal) and the confidence histogram, as PNG."""
    import matplotlib  # heavy, and only for the plot

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bins = reliability_bins(conf, correct, n_bins)
    width = 1.0 / n_bins
    fig, (ax, hist) = plt.subplots(2, 1, figsize=(5, 6), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    lefts = [b["lo"] for b in bins if b["count"]]
    ax.bar(lefts, [b["accuracy"] for b in bins if b["count"]], width=width, align="edge", edgecolor="black",
           label="accuracy")
    ax.bar(lefts, [b["confidence"] - b["accuracy"] for b in bins if b["count"]], bottom=[b["accuracy"] for b in bins if b["count"]],
           width=width, align="edge", color="red", alpha=0.3, label="gap to confidence")
    ax.plot([0, 1], [0, 1], "k--", linewidth=1)
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy")
    ax.set_title(f"{title} ECE={ece(conf, correct, n_bins):.3f}".strip())
    ax.legend(loc="upper left")
    hist.bar([b["lo"] for b in bins], [b["count"] for b in bins], width=width, align="edge", edgecolor="black")
    hist.set_xlabel("confidence (top-1 probability)")
    hist.set_ylabel("questions")
    hist.set_xlim(0, 1)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    with atomic_write(path, "wb") as f:
        f.write(buf.getvalue())
