"""Calibration metrics on hand-made probabilities, each expected value worked out by hand below."""

import math

import numpy as np
import pytest

from qgen.evaluation import calibration

# Four 3-choice questions:
#   q1 [.75 .15 .10] gold 0 -> argmax 0, correct, conf .75, margin .60
#   q2 [.62 .28 .10] gold 1 -> argmax 0, wrong,   conf .62, margin .34
#   q3 [.20 .18 .62] gold 2 -> argmax 2, correct, conf .62, margin .42
#   q4 [.50 .40 .10] gold 2 -> argmax 0, wrong,   conf .50, margin .10
PROBS = [[0.75, 0.15, 0.10], [0.62, 0.28, 0.10], [0.20, 0.18, 0.62], [0.50, 0.40, 0.10]]
GOLD = [0, 1, 2, 2]


def test_accuracy_nll_brier_by_hand():
    s = calibration.summary(PROBS, GOLD)
    assert s["n"] == 4
    assert s["accuracy"] == pytest.approx(0.5)  # q1 and q3 right
    # NLL = -(ln .75 + ln .28 + ln .62 + ln .10) / 4 = (0.287682 + 1.272966 + 0.478036 + 2.302585) / 4
    assert s["nll"] == pytest.approx(4.341269 / 4, abs=1e-6)
    # Brier per question: q1 .25²+.15²+.1² = .095; q2 .62²+.72²+.1² = .9128; q3 .2²+.18²+.38² = .2168;
    # q4 .5²+.4²+.9² = 1.22; mean = 2.4446 / 4
    assert s["brier"] == pytest.approx(2.4446 / 4, abs=1e-9)


def test_ece_by_hand():
    # 15 bins of width 1/15: .75 in (.7333, .8], both .62 in (.6, .6667], .50 in (.4667, .5333].
    # |1 - .75| * 1/4 + |.5 - .62| * 2/4 + |0 - .5| * 1/4 = .0625 + .06 + .125
    top1, _ = calibration.confidence(PROBS)
    correct = [True, False, True, False]
    assert calibration.ece(top1, correct) == pytest.approx(0.2475, abs=1e-9)
    bins = calibration.reliability_bins(top1, correct)
    assert [b["count"] for b in bins if b["count"]] == [1, 2, 1]
    assert sum(b["count"] for b in bins) == 4
    # a perfectly calibrated bin contributes nothing: two answers at .5, one right
    assert calibration.ece([0.5, 0.5], [True, False]) == pytest.approx(0.0)


def test_bin_edges_are_right_closed():
    # 0 goes to the first bin, 1 to the last; a value just above an edge goes to the next bin
    bins = calibration.reliability_bins([0.0, 1.0, 2 / 15 + 1e-9], [True, True, False])
    assert bins[0]["count"] == 1 and bins[-1]["count"] == 1 and bins[2]["count"] == 1


def test_margin_and_aurc_by_hand():
    top1, margin = calibration.confidence(PROBS)
    assert np.allclose(top1, [0.75, 0.62, 0.62, 0.50])
    assert np.allclose(margin, [0.60, 0.34, 0.42, 0.10])
    # sorted by confidence (ties in input order): q1 right, q2 wrong, q3 right, q4 wrong
    # error rate of the top k: 0, 1/2, 1/3, 2/4 -> mean = (0 + .5 + .3333 + .5) / 4 = 1/3
    assert calibration.aurc(top1, [True, False, True, False]) == pytest.approx(1 / 3)
    cov, acc = calibration.risk_coverage(top1, [True, False, True, False])
    assert np.allclose(cov, [0.25, 0.5, 0.75, 1.0]) and np.allclose(acc, [1, 0.5, 2 / 3, 0.5])
    # a confidence that ranks every right answer first has the smallest possible AURC for 2/4 right: (0+0+1/3+1/2)/4
    assert calibration.aurc([0.9, 0.1, 0.8, 0.2], [True, False, True, False]) == pytest.approx((1 / 3 + 1 / 2) / 4)


def test_explicit_predictions_and_unparseable():
    # generation: an unparseable answer (None) is wrong whatever the probabilities say
    s = calibration.summary(PROBS, GOLD, pred=[0, None, 2, 2])
    assert s["accuracy"] == pytest.approx(0.75)


def test_nll_is_finite_for_zero_probability():
    assert math.isfinite(calibration.nll([[1.0, 0.0]], [1]))
    assert calibration.nll([[1.0, 0.0]], [1]) == pytest.approx(-math.log(1e-12))


def test_reliability_png(tmp_path):
    top1, _ = calibration.confidence(PROBS)
    out = tmp_path / "r.png"
    calibration.plot_reliability(out, top1, [True, False, True, False], "test")
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    assert not list(tmp_path.glob(".*tmp"))  # written atomically, no temp file left


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError):
        calibration.summary([[0.5, 0.5]], [0, 1])


def test_a_scorer_at_chance_gets_a_note_not_just_a_fine_ece():
    """Issue 29: a quiz model with confidence 0.205 everywhere on 5 choices got ECE 0.004 and no word that it is
    guessing. 100 questions, probabilities (0.205, 0.19875 × 4), 21 right: accuracy and confidence at 1/5."""
    probs = [[0.205] + [0.19875] * 4] * 100
    gold = [0] * 21 + [1] * 79
    s = calibration.summary(probs, gold)
    assert s["chance_accuracy"] == 0.2 and s["ece"] < 0.01 and s["at_chance"]
    note = calibration.chance_note(s)
    assert note.startswith("at chance: accuracy 0.210 and mean confidence 0.205 against 0.200")
    # the four hand-made questions above: confident (mean 0.62 on 3 choices) but only 2 of 4 right -- accuracy 0.5 is
    # within two standard errors of 1/3 for n = 4 (2 * sqrt(2/9 / 4) = 0.47), so they are at chance too
    assert calibration.summary(PROBS, GOLD)["at_chance"]
    sure = calibration.summary([[0.9, 0.05, 0.05]] * 30, [0] * 30)  # 30 of 30 right, confident: far from chance
    assert not sure["at_chance"] and calibration.chance_note(sure) is None
