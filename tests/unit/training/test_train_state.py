"""TrainState is trainer_state.json: the same keys in the same order as the dict the loop kept before (old checkpoints
resume), and unknown keys from a newer or older writer are ignored."""

import json

from qgen.training.state import LogWindow, TrainState

OLD_KEYS = ["step", "epoch", "batch", "best_metric", "best_step", "bad_evals", "skipped", "consecutive_nonfinite",
            "valid_start"]


def test_json_has_the_old_keys_in_the_old_order():
    assert list(TrainState().to_json()) == OLD_KEYS


def test_round_trip_through_json():
    st = TrainState(step=7, epoch=1, batch=3, best_metric=2.5, best_step=6, bad_evals=1, skipped=2,
                    consecutive_nonfinite=0, valid_start=4.0)
    assert TrainState.from_json(json.loads(json.dumps(st.to_json()))) == st


def test_unknown_keys_are_ignored_and_missing_ones_default():
    assert TrainState.from_json({"step": 5, "epoch": 0, "batch": 2, "extra": 1}) == TrainState(step=5, batch=2)


def test_log_window_starts_empty():
    w = LogWindow()
    assert (w.loss_sum, w.tokens, w.input_tokens) == (0.0, 0.0, 0) and w.since > 0
