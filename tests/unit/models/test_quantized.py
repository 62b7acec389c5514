"""GPTQ / AWQ checkpoints are recognised from config.json; without GPT-QModel loading one is one line naming the extra."""

import json

import pytest
from transformers import GPT2Config

from qgen.core.errors import QgenInputError
from qgen.inference.loader import load_inference_model
from qgen.models import quantized


@pytest.mark.parametrize("qc, method", [
    ({"quant_method": "gptq", "bits": 4, "group_size": 128}, "gptq"), ({"quant_method": "awq", "bits": 4}, "awq"),
    ({"quant_method": "bitsandbytes", "load_in_4bit": True}, None), (None, None),
])
def test_quant_method_from_the_config(qc, method):
    config = GPT2Config(n_layer=1, n_embd=8, n_head=2)
    if qc is not None:
        config.quantization_config = qc
    assert quantized.quant_method(config) == method


def test_without_the_extra_loading_says_what_to_install(tmp_path, monkeypatch):
    config = GPT2Config(n_layer=1, n_embd=8, n_head=2).to_dict()
    config["quantization_config"] = {"quant_method": "gptq", "bits": 4, "group_size": 128}
    (tmp_path / "config.json").write_text(json.dumps(config), encoding="utf-8")
    for name in ("tokenizer_config.json", "tokenizer.json"):  # a complete tokenizer: only the extra is missing
        (tmp_path / name).write_text("{}", encoding="utf-8")
    monkeypatch.setattr(quantized, "import_gptqmodel", lambda: None)  # as where qgen[gptq] is not installed
    with pytest.raises(QgenInputError) as e:
        load_inference_model(str(tmp_path))
    assert str(e.value) == (f"{tmp_path}: a GPTQ checkpoint needs GPT-QModel: pip install 'qgen[gptq]' "
                            f"(GPT-QModel {quantized.GPTQMODEL_VERSION})")
