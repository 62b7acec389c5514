"""The training loop on tiny models and real JSQuAD rows: learning, exact accumulation, non-finite guard, best/last."""

import json

import pytest
import torch
from helpers.train_helpers import (
    build_tiny,
    one_thread,  # noqa: F401  (a fixture, used by pytestmark)
    prepare_run,
    records,
    set_up_run,
    settings,
    write_jsquad,
)
from safetensors.torch import load_file
from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

from qgen.data.examples import read_examples
from qgen.models.formats.sequence import make_format
from qgen.models.input_spec import InputSpec
from qgen.models.loading import load_model, load_tokenizer
from qgen.training import batching, checkpoint, losses, precision
from qgen.training.config import load_saved
from qgen.training.loop import TrainingDiverged, train

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def files(jsquad_valid, tmp_path_factory):
    return write_jsquad(jsquad_valid, tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="module")
def tiny(files, tmp_path_factory):
    texts = [t for ex in read_examples(files[0]) for t in (ex.source, ex.target)]
    return build_tiny(tmp_path_factory.mktemp("tiny"), ["tiny-t5"], texts)


def run(tmp_path, name, files, tiny, dropout=None, **kw):
    out = prepare_run(tmp_path / name, tiny, dropout=dropout)
    return out, train(settings(out, *files, **kw))


def test_loss_decreases_and_checkpoints_are_plain_hf(tmp_path, files, tiny):
    out, s = run(tmp_path, "r", files, tiny, max_steps=12, eval_steps=6, batch_size=8, lr=2e-3)
    valid = records(out, "valid")
    assert [r["step"] for r in valid] == [0, 6, 12]
    assert valid[-1]["valid_loss"] < valid[0]["valid_loss"] - 0.5  # the random model starts near ln(vocab)
    assert s["best_step"] == 12 and s["task"] == "aqg"
    assert load_saved(out / "best").model.task == "aqg"  # the guessed task is saved with the checkpoint
    # best/ is an ordinary HF directory: a plain transformers load generates (text2text pipeline is gone in v5)
    tok = AutoTokenizer.from_pretrained(out / "best")
    model = AutoModelForSeq2SeqLM.from_pretrained(out / "best")
    ids = tok("answer: 甲府市 context: 山梨県の県庁所在地は甲府市です。", return_tensors="pt")
    gen = model.generate(**ids, max_new_tokens=8)
    assert gen.shape[1] > 1
    assert (out / "loss.png").stat().st_size > 1000 and any((out / "tensorboard").iterdir())
    assert json.loads((out / "last" / "trainer_state.json").read_text())["step"] == 12
    assert len(list((out / "cache").iterdir())) == 2  # train and dev features cached in the run


def test_tokenisation_is_cached(tmp_path, files, tiny):
    tok = load_tokenizer(str(tiny / "tiny-t5"))
    examples = read_examples(files[0])
    sequence_format = make_format("seq2seq", tok, InputSpec(max_source_len=96, max_target_len=24))
    first = batching.encode_cached(examples, sequence_format, files[0], tmp_path, {"max_source_len": 96})
    (path,) = tmp_path.iterdir()
    mtime = path.stat().st_mtime_ns
    # a fresh tokenizer (no truncation state left by encoding) finds the same entry and does not re-tokenise
    fresh = make_format("seq2seq", load_tokenizer(str(tiny / "tiny-t5")), InputSpec(max_source_len=96, max_target_len=24))
    fresh.encode = None  # would fail if called
    assert batching.encode_cached(examples, fresh, files[0], tmp_path, {"max_source_len": 96}) == first
    assert list(tmp_path.iterdir()) == [path] and path.stat().st_mtime_ns == mtime
    # another format setting is another entry
    short = make_format("seq2seq", tok, InputSpec(max_source_len=32, max_target_len=24))
    second = batching.encode_cached(examples, short, files[0], tmp_path, {"max_source_len": 32})
    assert len(list(tmp_path.iterdir())) == 2 and max(len(f["input_ids"]) for f in second) == 32


def _grads(model):
    return {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}


def test_accumulation_equals_one_big_batch(tmp_path, files, tiny):
    run = set_up_run(prepare_run(tmp_path / "r", tiny), *files)
    model = run.model.double().eval()  # eval: no dropout, so only the batching differs
    sequence_format, feats = run.format, run.train_features[:7]
    big = [sequence_format.collate(feats)]
    micro = [sequence_format.collate(feats[:3]), sequence_format.collate(feats[3:4]),
             sequence_format.collate(feats[4:])]  # uneven sizes
    loss_big, n_big, _ = run.forward_backward(big)
    g_big = _grads(model)
    model.zero_grad(set_to_none=True)
    loss_micro, n_micro, _ = run.forward_backward(micro)
    g_micro = _grads(model)
    run.logger.close()
    assert n_big == n_micro and loss_big == pytest.approx(loss_micro, rel=1e-12)
    for name, g in g_big.items():
        torch.testing.assert_close(g_micro[name], g, atol=1e-6, rtol=0)
    # the HF-style mean of per-micro-batch means differs: this test can tell the two apart
    model.zero_grad(set_to_none=True)
    for b in micro:
        logits, labels = sequence_format.logits(model, b)
        ls, n = losses.get("ce")(logits, labels)
        (ls / n / len(micro)).backward()
    naive = _grads(model)
    assert max(float((naive[k] - g).abs().max()) for k, g in g_big.items()) > 1e-4


def test_logged_loss_independent_of_grad_accum(tmp_path, files, tiny):
    # SGD (momentum 0.9), not AdamW: Adam divides by sqrt(v), so where a gradient is ~0 a float32 summation-order difference
    # (1 vs 3 micro-batches) becomes an O(lr) weight difference whose size depends on the CPU. SGD moves the weights
    # linearly in the gradients, so they agree to float32 rounding here, and unlike Adam it is not scale-invariant: a mis-scaled
    # accumulated gradient (mean of micro-batch means) gives other weights and fails the comparison.
    common = {"max_steps": 3, "group_by_length": False, "scheduler": "constant", "optimizer": "sgd", "lr": 0.5}
    a, _ = run(tmp_path, "a", files, tiny, dropout=0.0, batch_size=6, grad_accum=1, **common)
    b, _ = run(tmp_path, "b", files, tiny, dropout=0.0, batch_size=2, grad_accum=3, **common)
    la, lb = [r["loss"] for r in records(a, "train")], [r["loss"] for r in records(b, "train")]
    assert len(la) == 3 and la == pytest.approx(lb, rel=1e-5)
    wa, wb = load_file(a / "last" / "model.safetensors"), load_file(b / "last" / "model.safetensors")
    moved = load_file(tiny / "tiny-t5" / "model.safetensors")
    assert max(float((wa[k] - moved[k]).abs().max()) for k in wa) > 1e-3  # the steps did move the weights
    # atol 1e-5: one batch of 6 and three of 2 pad to other lengths, so float32 sums run in another order; qgen's T5
    # attention (baddbmm, as eager attention rounds) measured 2.7e-6 here, SDPA's 1.2e-7. The weights move by > 1e-3,
    # so a mis-scaled accumulated gradient is off by far more than this.
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k], atol=1e-5, rtol=1e-5)


_calls = {"n": 0, "inf_from": None, "inf_only": None}


@losses.register("test_inject_inf")
def _inject(logits, labels):
    """Cross-entropy, but +inf on chosen training micro-batches (an injected overflow)."""
    loss, n = losses.cross_entropy(logits, labels)
    if logits.requires_grad:
        _calls["n"] += 1
        k = _calls["n"]
        if (_calls["inf_only"] is not None and k == _calls["inf_only"]) or (
                _calls["inf_from"] is not None and k >= _calls["inf_from"]):
            loss = loss * float("inf")
    return loss, n


def _inject_at(only=None, start=None):
    _calls.update(n=0, inf_only=only, inf_from=start)


@pytest.mark.parametrize("prec", ["fp32", "fp16"])
def test_nonfinite_step_is_skipped_without_touching_weights(tmp_path, files, tiny, prec):
    common = {"scheduler": "constant", "loss": "test_inject_inf", "precision": prec, "valid_file": "", "batch_size": 2}
    _inject_at()
    a, _ = run(tmp_path, "a", files, tiny, max_steps=2, **common)
    _inject_at(only=3)  # the third step's loss is inf
    b, s = run(tmp_path, "b", files, tiny, max_steps=3, **common)
    assert s["skipped_steps"] == 1 and [r["step"] for r in records(b, "nonfinite")] == [3]
    wa, wb = load_file(a / "last" / "model.safetensors"), load_file(b / "last" / "model.safetensors")
    assert all(torch.equal(wa[k], wb[k]) for k in wa)  # the skipped step changed nothing (per-step dropout seeds)
    if prec == "fp16":  # the scaler saw the overflow and halved its scale
        scale_a = checkpoint.load_state(a / "last")[0]["scaler"]["scale"]
        scale_b = checkpoint.load_state(b / "last")[0]["scaler"]["scale"]
        assert scale_b == scale_a / 2


def test_consecutive_nonfinite_steps_stop_with_last_good_state(tmp_path, files, tiny):
    _inject_at(start=3)  # steps 3, 4, … all overflow
    with pytest.raises(TrainingDiverged, match="2 consecutive non-finite steps"):
        run(tmp_path, "r", files, tiny, max_steps=10, save_steps=1, loss="test_inject_inf", max_nonfinite_steps=2,
            valid_file="")
    out = tmp_path / "r"
    assert json.loads((out / "last" / "trainer_state.json").read_text())["step"] == 2
    assert all(torch.isfinite(t).all() for t in load_file(out / "last" / "model.safetensors").values())
    assert len(records(out, "nonfinite")) == 2


def test_t5_ffn_output_runs_in_fp32_under_fp16_autocast(tiny):
    model = load_model(str(tiny / "tiny-t5"))
    assert precision.keep_t5_ffn_in_fp32(model, torch.device("cpu")) == 4  # 2 encoder + 2 decoder blocks
    seen = []
    model.encoder.block[0].layer[1].DenseReluDense.wo.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    model.encoder.block[0].layer[1].DenseReluDense.wi.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    with precision.autocast("fp16", torch.device("cpu")):
        model(input_ids=torch.tensor([[5, 6, 7, 1]]), decoder_input_ids=torch.tensor([[0, 5]]))
    assert seen == [torch.float16, torch.float32]  # wi stays in autocast's fp16, wo is kept in fp32


def test_never_saves_nonfinite_weights(tmp_path, tiny):
    model = load_model(str(tiny / "tiny-t5"))
    with torch.no_grad():
        next(model.parameters())[0, 0] = float("nan")
    with pytest.raises(checkpoint.NonFiniteWeightsError):
        checkpoint.save(tmp_path / "best", model, load_tokenizer(str(tiny / "tiny-t5")), None, {})
    assert not (tmp_path / "best").exists()


_evals = {"n": 0, "batches": 0}


def _start_evals(valid_file) -> None:
    """Count validation calls from zero; each validation is ceil(rows / valid_batch_size 16) loss calls."""
    _evals["n"], _evals["batches"] = 0, -(-len(read_examples(valid_file)) // 16)


def _offset(v: int) -> float:
    """Validation v (0 = before training) is made worse by |v-3| nats: best must be step 3 as long as the true loss moves
    by less than a nat per step (on the fixture's rows it rises a little at step 3, so the offset is on both sides)."""
    return abs(v - 3) * 1.0


@losses.register("test_scripted_valid")
def _scripted(logits, labels):
    """Cross-entropy; on validation batches plus a known offset per validation, so the best step is known."""
    loss, n = losses.cross_entropy(logits, labels)
    if not logits.requires_grad:
        v = _evals["n"] // _evals["batches"]
        _evals["n"] += 1
        loss = loss + _offset(v) * n
    return loss, n


def _rescore(directory, valid_file) -> float:
    spec = InputSpec(max_source_len=96, max_target_len=24)
    sequence_format = make_format("seq2seq", load_tokenizer(str(directory)), spec)
    feats = [sequence_format.encode(ex) for ex in read_examples(valid_file)]
    model = load_model(str(directory)).eval()
    total = n = 0.0
    with torch.no_grad():
        for b in batching.eval_batches(batching.lengths(feats), 16):
            ls, k = losses.cross_entropy(*sequence_format.logits(model, sequence_format.collate([feats[i] for i in b])))
            total, n = total + float(ls), n + int(k)
    return total / n


def test_best_is_the_lowest_validation_loss_not_the_last(tmp_path, files, tiny):
    _start_evals(files[1])
    # a constant lr: with the fixture's 136 rows a decaying one leaves the true loss flat after step 3
    out, s = run(tmp_path, "r", files, tiny, max_steps=5, eval_steps=1, loss="test_scripted_valid",
                 scheduler="constant")
    valid = {r["step"]: r["valid_loss"] for r in records(out, "valid")}
    assert s["best_step"] == 3 and min((v, k) for k, v in valid.items() if k > 0)[1] == 3
    assert json.loads((out / "best" / "trainer_state.json").read_text())["best_step"] == 3
    # best/ holds step 3's weights and last/ step 5's: re-score both independently with plain cross-entropy
    assert _rescore(out / "best", files[1]) == pytest.approx(valid[3] - _offset(3), rel=1e-5)
    assert _rescore(out / "last", files[1]) == pytest.approx(valid[5] - _offset(5), rel=1e-5)
    assert valid[5] - _offset(5) < valid[3]  # the true loss still fell: only the scripted metric chose step 3


def test_early_stopping(tmp_path, files, tiny):
    _start_evals(files[1])
    out, s = run(tmp_path, "r", files, tiny, max_steps=20, eval_steps=1, loss="test_scripted_valid",
                 early_stopping_patience=2)
    assert s["stopped"] == "early_stopping" and s["steps"] == 5 and s["best_step"] == 3
    assert json.loads((out / "last" / "trainer_state.json").read_text())["step"] == 5


@pytest.mark.parametrize("fast", [True, False])
def test_fast_dropout_is_what_the_loop_trains_with_unless_switched_off(tmp_path, files, tiny, monkeypatch, fast):
    from qgen.models import dropout as gap_dropout

    calls = []
    real = gap_dropout.drop_positions
    monkeypatch.setattr(gap_dropout, "drop_positions", lambda n, p: calls.append(p) or real(n, p))
    out, s = run(tmp_path, "fd", files, tiny, dropout=0.1, max_steps=2, valid_file="", fast_dropout=fast)
    assert len(records(out, "train")) == 2
    # every dropout of a T5 step (embeddings, attention probabilities, residuals, feed-forward) draws by gaps, or none
    assert (len(calls) >= 2 * 20 and set(calls) == {0.1}) if fast else calls == []
