"""`qgen export --push-to-hub`: the folder uploaded and the model card, with huggingface_hub mocked at its boundary
(HfApi.create_repo / upload_folder); offline or without a token it is one error line before the weights are read."""

import json
from pathlib import Path

import huggingface_hub
import pytest
import torch
from huggingface_hub import constants
from safetensors.torch import save_file

from qgen.cli import export as export_model
from qgen.training.config import TrainConfig


@pytest.fixture
def run(tmp_path) -> Path:
    """A finished run's directory as train.py leaves it: last/ (with training state), metrics.jsonl, loss.png, and
    the metrics JSON of a `qgen eval` in eval/."""
    run = tmp_path / "run"
    last = run / "last"
    last.mkdir(parents=True)
    cfg = TrainConfig()
    cfg.model.model, cfg.model.task, cfg.optim.lr, cfg.lora.lora_r = "cyberagent/open-calm-small", "quiz", 2e-4, 8
    cfg.data.train_file, cfg.data.valid_size = "data/quiz/train.json", 0.05
    cfg.save(last)
    (last / "config.json").write_text(json.dumps({"model_type": "gpt_neox"}), encoding="utf-8")
    save_file({"w": torch.ones(2, 2)}, last / "model.safetensors")
    (last / "trainer_state.json").write_text("{}", encoding="utf-8")
    (last / "trainer_state.pt").write_bytes(b"state")
    events = [{"event": "valid", "step": 0, "valid_loss": 3.5}, {"event": "train", "step": 10, "loss": 2.0},
              {"event": "valid", "step": 10, "valid_loss": 2.25}]
    (run / "metrics.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
    (run / "loss.png").write_bytes(b"\x89PNG plot")
    (run / "eval").mkdir()
    (run / "eval" / "dev.metrics.json").write_text(json.dumps({
        "predictions": "eval/dev.jsonl", "n": 40, "bleu": 12.5, "rougeL": 0.41,
        "bleu_signature": "nrefs:1|case:mixed|eff:no|tok:ja-mecab-0.996-IPA|smooth:exp|version:2.4.3",
        "rouge_signature": "rouge-score|tok:ja-mecab"}), encoding="utf-8")
    return run


@pytest.fixture
def hub(monkeypatch):
    """The hub's side: what create_repo was asked and what upload_folder found in the folder."""
    seen = {}
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: "hf_test")

    def create_repo(self, repo_id, **kw):
        seen["repo"] = (repo_id, kw)

    def upload_folder(self, *, repo_id, folder_path, **kw):
        seen["files"] = {p.name: p.read_bytes() for p in Path(folder_path).iterdir()}
        seen["token"] = kw.get("token")

    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", create_repo)
    monkeypatch.setattr(huggingface_hub.HfApi, "upload_folder", upload_folder)
    return seen


def test_push_uploads_the_checkpoint_and_a_card_from_the_run(run, hub, capsys):
    assert export_model.main(["--checkpoint", str(run / "last"), "--push-to-hub", "org/quiz-qlora"]) == 0
    assert hub["repo"] == ("org/quiz-qlora", {"token": "hf_test", "private": True, "exist_ok": True})
    assert hub["token"] == "hf_test"
    assert set(hub["files"]) == {"config.json", "model.safetensors", "qgen_config.yaml", "input_spec.json",
                                 "README.md", "loss.png"}  # no trainer_state.*
    card = hub["files"]["README.md"].decode()
    for line in ("# quiz-qlora", "- training: `train.json`", "- validation: 0.05 of the training examples held out",
                 "| lr | 0.0002 |", "| lora_r | 8 |", "| 0 | 3.5000 |", "| 10 | 2.2500 |",
                 "Lowest validation loss 2.2500 at step 10.", "![training and validation loss](loss.png)",
                 "| bleu | 12.5 |", "| rougeL | 0.41 |",
                 "- bleu_signature: `nrefs:1|case:mixed|eff:no|tok:ja-mecab-0.996-IPA|smooth:exp|version:2.4.3`",
                 "- rouge_signature: `rouge-score|tok:ja-mecab`", "base_model: cyberagent/open-calm-small"):
        assert line in card.splitlines()
    assert "uploaded to org/quiz-qlora (private)" in capsys.readouterr().out


def test_public_and_exported_folder(run, hub, tmp_path):
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

    # an export loads the weights into the model its config describes (a misfit is refused): a real tiny model here
    config = GPTNeoXConfig(hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16,
                           vocab_size=16, max_position_embeddings=32)
    GPTNeoXForCausalLM(config).save_pretrained(run / "last")
    out = tmp_path / "shipped"
    assert export_model.main(["--checkpoint", str(run / "last"), "--output", str(out), "--push-to-hub", "org/m",
                              "--public"]) == 0
    assert hub["repo"][1]["private"] is False
    assert hub["files"]["model.safetensors"] == (out / "model.safetensors").read_bytes()  # the fp16 export's


@pytest.mark.parametrize("offline, token, message", [
    (True, "hf_test", "--push-to-hub needs the network, but HF_HUB_OFFLINE is set; unset it and run again"),
    (False, None, "no Hugging Face token: run `hf auth login` or set HF_TOKEN"),
])
def test_offline_or_no_token_is_one_line_before_the_weights(run, monkeypatch, capsys, tmp_path, offline, token,
                                                            message):
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", offline)
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: token)
    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", lambda *a, **k: pytest.fail("no repo offline"))
    (run / "last" / "model.safetensors").write_bytes(b"not safetensors")  # reading it would be another error
    argv = ["--checkpoint", str(run / "last"), "--output", str(tmp_path / "o"), "--push-to-hub", "org/m"]
    assert export_model.main(argv) == 2
    assert capsys.readouterr().err == f"error: field '--push-to-hub': {message}\n"
    assert not (tmp_path / "o").exists()


def test_unreachable_hub_is_one_line(run, hub, monkeypatch, capsys):
    def refuse(self, repo_id, **kw):
        raise ConnectionError("Failed to resolve 'huggingface.co'\nmore detail")

    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", refuse)
    assert export_model.main(["--checkpoint", str(run / "last"), "--push-to-hub", "org/m"]) == 2
    assert capsys.readouterr().err == ("error: field '--push-to-hub': cannot create org/m on the hub: "
                                       "Failed to resolve 'huggingface.co'\n")


def test_output_or_push_is_required(run, capsys):
    with pytest.raises(SystemExit):
        export_model.main(["--checkpoint", str(run / "last")])
    assert "--output is required" in capsys.readouterr().err
