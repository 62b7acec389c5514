"""A GPTQ checkpoint, quantised here on the CPU with GPT-QModel, scores quizzes and generates through qgen like the
model it came from: quiz probabilities within a stated tolerance of the unquantised model's."""

import contextlib
import importlib.util
import json
import shutil

import numpy as np
import pytest
from helpers.tiny_conventions import build

from qgen.cli.generate import main as generate_main
from qgen.cli.predict import main as predict_main
from qgen.core.files import write_json
from qgen.data.quiz import read_quizzes, render
from qgen.models.quantized import import_gptqmodel
from qgen.training.config import TrainConfig

pytestmark = [pytest.mark.slow,  # GPT-QModel's import alone takes ~20-35 s here; quantising ~30 s more
              pytest.mark.skipif(importlib.util.find_spec("gptqmodel") is None, reason="needs qgen[gptq]")]
# What moves the quiz probabilities: 4-bit weights (group size 32, each weight off by up to half a step) and the
# bf16 compute GPT-QModel's CPU kernel needs, on a random-weight 2-layer model whose wide weights (std 0.1) make its
# choices sharp. Measured on these 30 questions (this test prints it): GPTQ vs fp32 max |dprob| 0.0837, mean 0.0173,
# same prediction 90% (bf16 alone: max 0.0100); the bounds leave room for float differences between machines.
MAX_DIFF, MEAN_DIFF, SAME_PRED = 0.15, 0.04, 0.85


@pytest.fixture(scope="module")
def models(tmp_path_factory, jcqa_train, jcqa_valid):
    import_gptqmodel()  # with qgen's worker-pool setting for small machines (qgen.models.quantized)
    from gptqmodel import BACKEND, GPTQModel, QuantizeConfig

    d = tmp_path_factory.mktemp("gptq")
    train, _ = read_quizzes(jcqa_train, "jcommonsenseqa")
    texts = [render(q, "train")["instruction"] + render(q, "train")["output"] for q in train[:150]]
    base = build("opencalm", texts, d / "base", width=128)  # GPT-NeoX with open-calm's tokenizer conventions
    cfg = TrainConfig()
    cfg.model.model, cfg.model.task, cfg.model.prompt_format, cfg.model.max_len = str(base), "quiz", "opencalm", 256
    cfg.save(base)
    with contextlib.chdir(d):  # GPT-QModel writes its quantisation log into ./logs
        qmodel = GPTQModel.load(str(base), QuantizeConfig(bits=4, group_size=32, offload_to_disk=False), device="cpu")
        qmodel.quantize(texts[:16], batch_size=4, backend=BACKEND.GPTQ_TORCH)  # a few calibration sentences
        qmodel.save(str(d / "gptq"))
    for name in ("qgen_config.yaml", "input_spec.json"):
        shutil.copy2(base / name, d / "gptq" / name)
    valid, _ = read_quizzes(jcqa_valid, "jcommonsenseqa")
    write_json(d / "dev.json", [render(q, "eval") for q in valid[:30]])
    return d


def _quiz(models, name, dtype="auto"):
    out = models / f"quiz-{name}-{dtype}"
    assert predict_main(["--task", "quiz", "--model", str(models / name), "--input", str(models / "dev.json"),
                         "--output-dir", str(out), "--dtype", dtype]) == 0
    return json.loads((out / "result.json").read_text(encoding="utf-8"))


def test_gptq_quiz_probabilities_match_the_unquantised_model(models, capsys):
    config = json.loads((models / "gptq" / "config.json").read_text(encoding="utf-8"))
    assert config["quantization_config"]["quant_method"] == "gptq" and config["quantization_config"]["bits"] == 4
    full, quant, bf16 = _quiz(models, "base"), _quiz(models, "gptq"), _quiz(models, "base", "bf16")

    def compare(a, b):
        diff = np.abs(np.array([r["probs"] for r in a]) - np.array([r["probs"] for r in b]))
        return diff.max(), diff.mean(), np.mean([x["pred"] == y["pred"] for x, y in zip(a, b)])

    worst, mean, same = compare(full, quant)
    with capsys.disabled():
        print(f"\nGPTQ 4-bit g32 (bf16 compute) vs fp32, {len(full)} JCommonsenseQA questions: max |dprob| {worst:.4f}, "
              f"mean {mean:.4f}, same prediction {same:.0%}; unquantised bf16 vs fp32: max |dprob| "
              f"{compare(full, bf16)[0]:.4f}, mean {compare(full, bf16)[1]:.4f}")
    assert worst > 0  # the quantised weights were really used
    assert worst < MAX_DIFF and mean < MEAN_DIFF and same >= SAME_PRED


def test_gptq_checkpoint_generates(models, capsys):
    assert generate_main(["--model", str(models / "gptq"), "--source", "空の色は?", "--max-new-tokens", "4"]) == 0
    assert capsys.readouterr().out.strip()
