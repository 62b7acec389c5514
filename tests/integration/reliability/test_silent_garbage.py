"""Inputs that used to run to exit 0 on garbage (issue 29, "silent garbage" and "resource blow-up"): each is now one
`error:` line naming the file / record / field (exit 2, no traceback, no output), or a warning that counts what it
skipped or could not use.

- a checkpoint whose weights do not fit its config (a tensor renamed, `model_type` edited) or hold a NaN: every loader
  (predict, generate, train from a checkpoint, export) refuses it instead of running a randomly initialised model;
- `--resume` with another model, training file (path or contents) or a max_steps below the saved step;
- a config with a key written twice, an alias bomb, or a nested list in a string-list setting;
- a quiz whose gold names a choice by an index and a text that disagree, or with duplicate / empty choices;
- an `<hl>` answer beyond the model's max_source_len (generate.py: an error; predict.py and training: counted).
"""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from helpers.train_helpers import cli_flags, one_thread  # noqa: F401  (fixture)
from safetensors.torch import load_file, save_file

from qgen.cli.train import main as train_main

from .test_bad_inputs import QUIZ_OK, Case, bad
from .test_bad_inputs import test_bad_input as check_bad_input

pytestmark = pytest.mark.usefixtures("one_thread")

RENAMED = "decoder.final_layer_norm.weight"  # a tensor of the tiny T5 that no tied weight stands in for


def _edit_weights(edit):
    def damage(d):
        weights = load_file(d / "model.safetensors")
        edit(weights)
        save_file(weights, d / "model.safetensors", metadata={"format": "pt"})
    return damage


def _rename(weights):
    weights["decoder.final_norm.weight"] = weights.pop(RENAMED)


def _nan(weights):
    weights[RENAMED][0] = float("nan")


def _edit_config(**keys):
    def damage(d):
        config = json.loads((d / "config.json").read_text(encoding="utf-8"))
        (d / "config.json").write_text(json.dumps({**config, **keys}), encoding="utf-8")
    return damage


def _model_case(id_, command, damage, says, argv, outputs=("out",)):
    """A case run on a damaged copy of the good model, named in the error line (the directory)."""
    return Case(id_, command, lambda c: argv(c, c.damaged_model(damage)), tuple(says),
                names=lambda c: c.root / "model", outputs=outputs)


def _predict(c, model):
    return ["--model", model, "--input", c.file("in.tsv", "q1\tanswer: 東京 context: 東京は首都\t首都は?\n"),
            "--output", c.out("p.jsonl")]


def _generate(c, model):
    return ["--model", model, "--context", "東京は日本の首都です。", "--answer", "東京"]


def _train_from(c, model):
    return ["--model", model, "--train-file", c.file("t.tsv", "q1\tanswer: 東京 context: 東京は首都\t首都は?\n"),
            "--output-dir", c.out("run"), "--max-steps", "1"]


def _export(c, model):
    return ["--checkpoint", model, "--output", c.out("exported")]


def _config(c, f):
    return ["--config", f, "--train-file", c.file("train.tsv", "q1\tanswer: a context: a b\tq?\n"),
            "--output-dir", c.out("run")]


def _quiz(c, f):
    return ["--task", "quiz", "--model", str(c.model), "--input", f, "--output-dir", c.out("q")]


LONG = "山梨県の県庁所在地は甲府市です。" * 30  # far beyond the reference model's max_source_len (64 tokens)
# ~300 bytes whose last item expands to 9**6 = 531,441 strings (the 350 bytes made a 58 MB qgen_config.yaml)
ALIAS_BOMB = "add_special_tokens:\n" + "".join(
    f"  - &{k} [{', '.join([f'*{p}'] * 9 if p else ['lol'] * 9)}]\n" for p, k in zip(["", *"abcde"], "abcdef"))

CASES = [
    # ---- weights that do not fit the config, or are not finite: every loader ------------------------------------
    _model_case("predict-weight-renamed", "predict", _edit_weights(_rename), ["weights do not fit", RENAMED,
                "decoder.final_norm.weight"], _predict),
    _model_case("predict-weight-nan", "predict", _edit_weights(_nan), [RENAMED, "NaN"], _predict),
    _model_case("generate-model-type-edited", "generate", _edit_config(model_type="bart"), ["weights do not fit"],
                _generate, outputs=()),
    _model_case("generate-weight-nan", "generate", _edit_weights(_nan), [RENAMED, "NaN"], _generate, outputs=()),
    _model_case("train-from-checkpoint-weight-renamed", "train", _edit_weights(_rename), ["weights do not fit",
                RENAMED], _train_from),
    _model_case("train-from-checkpoint-nan", "train", _edit_weights(_nan), [RENAMED, "NaN"], _train_from),
    _model_case("export-weight-renamed", "export", _edit_weights(_rename), ["weights do not fit", RENAMED], _export),
    # ---- configs ------------------------------------------------------------------------------------------------
    bad("train-config-duplicate-key", "train", "lr: 1e-4\nseed: 3\nlr: 2e-4\n", _config,
        ["line 3", "duplicate key 'lr'"], ext="yaml"),
    bad("train-config-duplicate-grouped-key", "train", "optim:\n  lr: 1e-4\n  lr: 2e-4\n", _config,
        ["line 3", "duplicate key 'lr'"], ext="yaml"),
    bad("train-config-alias-bomb", "train", ALIAS_BOMB, _config, ["alias bomb"], ext="yaml"),
    bad("train-config-recursive-alias", "train", "add_special_tokens: &a [*a]\n", _config, ["recursive"], ext="yaml"),
    bad("train-config-nested-special-tokens", "train", "add_special_tokens: [[<hl>, <sep>]]\n", _config,
        ["field 'add_special_tokens'", "list of non-empty strings"], ext="yaml"),
    bad("train-config-nested-target-modules", "train", "lora_r: 4\nlora_target_modules: [q, [v, k]]\n", _config,
        ["field 'lora_target_modules'", "list of non-empty strings"], ext="yaml"),
    bad("train-config-list-as-model", "train", "model: [tiny-t5, tiny-gpt2]\n", _config, ["field 'model'"],
        ext="yaml"),
    # ---- quiz gold and choices ----------------------------------------------------------------------------------
    bad("quiz-gold-index-and-text-disagree", "predict", [{**QUIZ_OK, "output": "1: 大阪"}], _quiz,
        ["record 1", "field 'output'", "disagree"], ext="json"),
    bad("quiz-duplicate-choices", "predict", [{**QUIZ_OK, "input": "0: 大阪\n1: 東京\n2: 東京"}], _quiz,
        ["record 1", "field 'input'", "choices 1 and 2 are the same"], ext="json"),
    bad("quiz-empty-choice", "predict", [{**QUIZ_OK, "input": "0: 大阪\n1: 東京\n2: "}], _quiz,
        ["record 1", "field 'input'", "choice 2 is empty"], ext="json"),
    # ---- an <hl> answer the model cannot see --------------------------------------------------------------------
    Case("generate-hl-answer-beyond-max-source-len", "generate",
         lambda c: ["--model", str(c.model), "--source", f"{LONG}<hl> 甲府市 <hl>。"],
         ("<hl> answer", "max_source_len (64 tokens)", "--source"), names=lambda c: None, outputs=()),
]


@pytest.fixture(scope="module")
def good_model(reference):
    return reference / "best"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_silent_garbage_is_an_error(case: Case, good_model, tmp_path, capfd):
    check_bad_input(case, good_model, tmp_path, capfd)


# ---- --resume with other settings than the saved run's ---------------------------------------------------------
def _resume(make_conf, reference, tmp_path, capsys, **changes) -> str:
    out = tmp_path / "run"
    shutil.copytree(reference, out)
    before = (out / "last" / "model.safetensors").read_bytes()
    capsys.readouterr()
    assert train_main(cli_flags({**make_conf(out, resume=True), **changes})) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in err, err
    assert (out / "last" / "model.safetensors").read_bytes() == before
    return errors[0]


def test_resume_with_another_model_is_refused(make_conf, reference, tmp_path, capsys):
    line = _resume(make_conf, reference, tmp_path, capsys, model="tiny-gpt2")
    assert "field 'model'" in line and "'tiny-t5'" in line and "'tiny-gpt2'" in line, line


def test_resume_with_another_train_file_is_refused(make_conf, reference, rel_files, tmp_path, capsys):
    line = _resume(make_conf, reference, tmp_path, capsys, train_file=str(rel_files[1]))
    assert "field 'train_file'" in line and repr(str(rel_files[0])) in line and repr(str(rel_files[1])) in line, line


def test_resume_with_a_max_steps_below_the_saved_step_is_refused(make_conf, reference, tmp_path, capsys):
    line = _resume(make_conf, reference, tmp_path, capsys, max_steps=4)
    assert "field 'max_steps'" in line and "step 10" in line and "max_steps 4" in line, line


def test_resume_with_epochs_ending_before_the_saved_step_is_refused(make_conf, reference, tmp_path, capsys):
    line = _resume(make_conf, reference, tmp_path, capsys, max_steps=0, epochs=0.5)  # 28 rows: 2 steps, saved at 10
    assert "field 'epochs'" in line and "step 10" in line and "ends the run at step 2" in line, line


def test_resume_on_a_changed_training_file_is_refused(make_conf, reference, rel_files, tmp_path, capsys):
    # the same path as the saved run's, other contents: the saved data position would count in other rows
    train = tmp_path / "train.tsv"
    rows = rel_files[0].read_text(encoding="utf-8").splitlines(keepends=True)
    train.write_text("".join(rows[1:] + rows[:1]), encoding="utf-8")
    out = tmp_path / "run"
    shutil.copytree(reference, out)
    saved = out / "last" / "qgen_config.yaml"  # as if the run had been trained on `train` before it changed
    saved.write_text(saved.read_text(encoding="utf-8").replace(str(rel_files[0]), str(train)), encoding="utf-8")
    capsys.readouterr()
    assert train_main(cli_flags({**make_conf(out, resume=True), "train_file": str(train)})) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and str(train) in errors[0] and "contents changed" in errors[0], err


# ---- an <hl> answer beyond max_source_len: counted in predict.py and in training -------------------------------
def _hl_rows(n_cut: int, n_ok: int) -> str:
    cut = [f"c{i}\t{LONG}<hl> 甲府市 <hl>。\t県庁所在地は?\n" for i in range(n_cut)]
    ok = [f"k{i}\t山梨県の県庁所在地は<hl> 甲府市 <hl>です。\t県庁所在地は?\n" for i in range(n_ok)]
    return "".join(ok[:1] + cut + ok[1:])


def test_predict_warns_of_hl_answers_beyond_max_source_len(good_model, tmp_path, capfd):
    from qgen.cli.predict import main as predict_main

    src = tmp_path / "in.tsv"
    src.write_text(_hl_rows(2, 2), encoding="utf-8")
    capfd.readouterr()
    assert predict_main(["--model", str(good_model), "--input", str(src), "--output", str(tmp_path / "p.jsonl"),
                         "--max-new-tokens", "4", "--num-beams", "1"]) == 0
    warnings = [line for line in capfd.readouterr().err.splitlines() if "<hl> answer" in line]
    assert len(warnings) == 1, warnings
    assert "2 of 4 records (2 (id c0), 3 (id c1))" in warnings[0] and "max_source_len 64" in warnings[0], warnings
    assert len((tmp_path / "p.jsonl").read_text(encoding="utf-8").splitlines()) == 4  # every prediction kept


def test_training_skips_hl_answers_beyond_max_source_len(make_conf, tmp_path, capfd, caplog):
    train = tmp_path / "train.tsv"
    train.write_text(_hl_rows(3, 8), encoding="utf-8")
    out = tmp_path / "run"
    capfd.readouterr()
    with caplog.at_level("WARNING"):  # train.py's log lines (stderr outside pytest)
        assert train_main(cli_flags({**make_conf(out, max_steps=1), "train_file": str(train),
                                     "valid_file": str(train)})) == 0
    printed = "".join(capfd.readouterr())  # the progress bar's lines
    skipped = [r.getMessage() for r in caplog.records if "<hl> answer" in r.getMessage()]
    assert len(skipped) == 2, skipped  # the training and the validation file
    assert all("3 of 11 records (2 (id c0), 3 (id c1), 4 (id c2))" in m and "skipped" in m for m in skipped), skipped
    assert "8 train / 8 valid examples" in printed, printed[-3000:]


def test_training_with_every_hl_answer_cut_is_an_error(make_conf, tmp_path, capsys):
    train = tmp_path / "train.tsv"
    train.write_text(_hl_rows(2, 0), encoding="utf-8")
    out = tmp_path / "run"
    capsys.readouterr()
    assert train_main(cli_flags({**make_conf(out, max_steps=1), "train_file": str(train), "valid_file": ""})) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and str(train) in errors[0] and "all 2 of 2 records" in errors[0], errors


def test_a_weights_check_passes_a_good_model(good_model):
    from qgen.models.loading import load_model

    model = load_model(str(good_model))
    assert all(bool(torch.isfinite(p).all()) for p in model.parameters())
