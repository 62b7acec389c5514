"""kill -9 at more than 20 exact points of one run (inside steps, during validation, at every stage of writing best/
and last/), each followed by `--resume`: the final weights are bit-identical to the uninterrupted run's, and at every
kill point each existing best/ and last/ passes qgen's check and loads with transformers.

The kills are chained (each resumed run is killed again further on), so one run is interrupted over 20 times and the
last resume finishes it; a kill before the first last/ exists is followed by a fresh start, which must also match.
Runs are forked from a pre-imported process running train.py's own code (forkserver.py) to keep the sweep short.
"""

import re
import signal

import pytest

from .reliability_helpers import STEPS, assert_loads, assert_same_result, leftovers, records, run_train, saved_step

STAGES = ("tmpdir", "weights", "state", "swap", "swapped")  # a checkpoint write, in order (qgen.core.files / checkpoint)


def order(point: str) -> tuple:
    """Where a pause point falls in a run, so the chain visits them in the order one run passes them."""
    if m := re.fullmatch(r"step(\d+):micro(\d+)", point):
        return int(m[1]), 0, int(m[2])
    if m := re.fullmatch(r"step(\d+):(backward|optimizer|end)", point):
        return int(m[1]), 1 + ("backward", "optimizer", "end").index(m[2]), 0
    if m := re.fullmatch(r"valid(\d+):batch(\d+)", point):
        return int(m[1]), 4, int(m[2])
    if m := re.fullmatch(r"save:(best|last):(\d+):(\w+)", point):
        return int(m[2]), 5 if m[1] == "best" else 6, STAGES.index(m[3])
    raise ValueError(point)


def best_steps(ref) -> list[int]:
    """Steps at which the reference run wrote best/ (each validation after training that lowered the loss)."""
    steps, low = [], None
    for r in records(ref, "valid"):
        if r["step"] > 0 and (low is None or r["valid_loss"] < low):
            steps.append(r["step"])
            low = r["valid_loss"]
    return steps


def kill_points(ref) -> list[str]:
    points = [
        "valid0:batch1",  # the validation before training: nothing saved yet
        "step1:micro1", "step2:backward", "step2:optimizer", "step3:end",  # inside steps
        "valid3:batch1",  # mid-validation
        *(f"save:best:3:{s}" for s in ("tmpdir", "weights", "swap", "swapped")),  # the first best/ write
        *(f"save:last:3:{s}" for s in STAGES),  # the first last/ write (before it, resume starts afresh)
        "step4:micro1", "valid4:batch2", "save:last:4:swap", "save:last:4:swapped",
        "step5:optimizer", "step7:micro2", "valid8:batch1", "save:last:8:state", "step9:backward",
        f"save:last:{STEPS}:swap", f"save:last:{STEPS}:swapped",  # the final write
    ]
    later = [s for s in best_steps(ref) if s > 4]  # a best/ replaced over an older one (taken from the reference)
    points += [f"save:best:{later[0]}:swap"] if later else []
    points += [f"save:best:{later[-1]}:swapped"] if later else []
    return sorted(dict.fromkeys(points), key=order)


@pytest.mark.slow
def test_kill_minus_9_sweep_then_resume_is_bit_identical(make_conf, reference, server, tmp_path):
    points = kill_points(reference)
    assert len(points) >= 20
    out = tmp_path / "run"
    conf = make_conf(out, resume=True)  # --resume from the start: with no last/ yet the run starts afresh
    history = []
    for point in points:
        result = run_train(conf, pause=[point], server=server)
        assert result.returncode == -signal.SIGKILL, result.stderr[-3000:]
        assert "Traceback" not in result.stderr, result.stderr[-3000:]
        for name, with_state in (("best", False), ("last", True)):
            if (out / name).exists():
                assert_loads(out / name, with_state)
        history.append((point, saved_step(out / "last"), leftovers(out)))
    # the sweep really hit checkpoint writes in flight and resumed from several saved steps
    assert any(left for _, _, left in history), history
    assert {step for _, step, _ in history} >= {None, 3, 4, 8, STEPS}, history
    result = run_train(conf, server=server)
    assert result.returncode == 0, result.stderr[-3000:]
    assert_same_result(out, reference)
