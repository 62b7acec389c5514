"""A checkpoint write that fails midway (a full disk: half the bytes written, then OSError(ENOSPC)) stops the run
with one `error:` line (exit 1), leaves the previous best/ and last/ intact and loadable with no temp files, and a
`--resume` then ends bit-identical to the uninterrupted run."""

import pytest

from .reliability_helpers import assert_loads, assert_same_result, leftovers, run_train, saved_step


@pytest.mark.parametrize("fault, names", [
    ({"writer": "torch.save", "nth": 2}, "trainer_state.pt"),  # the 2nd last/ (step 4): its optimiser state
    ({"writer": "safetensors", "nth": 3}, "model.safetensors"),  # the 3rd model written (best/ or last/ at step 4)
], ids=["trainer-state", "weights"])
def test_disk_full_during_checkpoint_write(make_conf, reference, server, tmp_path, fault, names):
    out = tmp_path / "run"
    result = run_train(make_conf(out), server=server, fault=fault)
    assert result.returncode == 1, result.stderr[-3000:]
    errors = result.errors()
    assert len(errors) == 1 and "Traceback" not in result.stderr, result.stderr[-3000:]
    assert f"no space left on device writing {out}/" in errors[0] and names in errors[0] and "is unchanged" in errors[0], errors[0]
    assert leftovers(out) == []  # the half-written temp directory went
    assert saved_step(out / "last") == 3  # the previous last/
    assert_loads(out / "last", with_state=True)
    assert_loads(out / "best", with_state=False)
    assert not (out / ".qgen.lock").exists()
    again = run_train(make_conf(out, resume=True), server=server)
    assert again.returncode == 0, again.stderr[-3000:]
    assert_same_result(out, reference)
