"""Causal models in the loop: the loss covers exactly the target + EOS tokens (GPT-2, GPT-NeoX, Llama), and it trains."""

import pytest
import torch
from helpers.train_helpers import (
    build_tiny_for,
    one_thread,  # noqa: F401  (a fixture, used by pytestmark)
    prepare_run,
    records,
    set_up_run,
    settings,
    write_jsquad,
)
from transformers import pipeline

from qgen.data.examples import read_examples
from qgen.training import batching
from qgen.training.loop import train

CAUSAL = ["tiny-gpt2", "tiny-gpt-neox", "tiny-llama"]

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def files(jsquad_valid, tmp_path_factory):
    return write_jsquad(jsquad_valid, tmp_path_factory.mktemp("data"), n_train=24, n_dev=6)


@pytest.fixture(scope="module")
def tiny(files, tmp_path_factory):
    return build_tiny_for(tmp_path_factory.mktemp("tiny"), CAUSAL, files[0])


@pytest.mark.parametrize("name", CAUSAL)
def test_loop_loss_is_the_target_tokens_only(tmp_path, files, tiny, name):
    run = set_up_run(prepare_run(tmp_path, tiny, name), *files, model=name, max_len=400, prompt_format="opencalm")
    tok, causal_format, feats = run.loaded.tokenizer, run.format, run.valid_features
    model = run.plain_model.eval()
    examples = read_examples(files[1])
    assert len(feats) == len(examples) and len(run.valid_batches) == 1  # every dev example, in one batch
    lens = batching.lengths(feats)
    assert len(set(lens)) > 1  # batches really mix lengths (right padding)
    got = run.validation_metrics()
    run.logger.close()
    # reference: each example alone, no padding; the target is the last len(target ids) + 1 (EOS) tokens
    total = n = 0.0
    with torch.no_grad():
        for ex, f in zip(examples, feats):
            k = len(tok(ex.target, add_special_tokens=False)["input_ids"]) + 1
            ids = torch.tensor([f["input_ids"]])
            logp = model(input_ids=ids).logits[0].log_softmax(-1)
            total -= sum(float(logp[t - 1, ids[0, t]]) for t in range(ids.shape[1] - k, ids.shape[1]))
            n += k
    assert got["valid_loss"] == pytest.approx(total / n, rel=1e-5)
    assert batching.count_targets("causal", causal_format.collate(feats)) == n


def test_tiny_gpt2_trains_and_loads_in_a_pipeline(tmp_path, files, tiny):
    out = prepare_run(tmp_path / "r", tiny, "tiny-gpt2")
    s = train(settings(out, *files, model="tiny-gpt2", max_steps=6, batch_size=4, lr=2e-3, eval_steps=3))
    valid = records(out, "valid")
    assert s["best_step"] in (3, 6) and valid[-1]["valid_loss"] < valid[0]["valid_loss"]
    gen = pipeline("text-generation", model=str(out / "best"))
    text = gen("answer: 甲府市 context: 山梨県の県庁所在地は甲府市です。\n### 回答:\n", max_new_tokens=5)[0]["generated_text"]
    assert text.startswith("answer: 甲府市")
