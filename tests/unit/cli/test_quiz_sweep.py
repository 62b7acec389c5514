"""`qgen quiz sweep` over three tiny causal models of different sizes, on real JCommonsenseQA items."""

import json
from pathlib import Path

import pytest
from helpers.tiny_conventions import build

import qgen.quiz.pipeline
from qgen.cli.quiz import main as quiz_main
from qgen.cli.quiz_sweep import build_parser, plan
from qgen.core.errors import QgenInputError
from qgen.core.files import write_json
from qgen.data.quiz import read_quizzes, render

SIZES = {"calm-s": (1, 32), "calm-m": (2, 64), "calm-l": (3, 96)}  # (layers, width)


@pytest.fixture(scope="module")
def setup(tmp_path_factory, jcqa_train, jcqa_valid):
    d = tmp_path_factory.mktemp("sweep")
    train, _ = read_quizzes(jcqa_train, "jcommonsenseqa")
    texts = [render(q, "train")["instruction"] + render(q, "train")["output"] for q in train[:150]]
    models = [str(build("opencalm", texts, d / name, layers=layers, width=width, seed=i))
              for i, (name, (layers, width)) in enumerate(SIZES.items())]
    valid, _ = read_quizzes(jcqa_valid, "jcommonsenseqa")
    write_json(d / "dev1.json", [render(q, "eval") for q in valid[:6]])
    write_json(d / "dev2.json", [render(q, "eval") for q in valid[6:10]])
    return d, models


def _sweep(setup, out, *extra):
    d, models = setup
    return quiz_main(["sweep", "--models", *models, "--input", str(d / "dev1.json"), str(d / "dev2.json"),
                      "--output-dir", str(d / out), "--scoring", "loglik", *extra])


def test_sweep_outputs(setup, capsys):
    d, models = setup
    assert _sweep(setup, "s1") == 0
    assert capsys.readouterr().out.splitlines()[-1] == f"wrote sweep.json, sweep.md, sweep.png to {d / 's1'}"
    rows = json.loads((d / "s1" / "sweep.json").read_text(encoding="utf-8"))["models"]
    assert [r["model"] for r in rows] == models
    params = [r["parameters"] for r in rows]
    assert params == sorted(params) and len(set(params)) == 3  # three sizes, counted from the loaded weights
    for r in rows:
        metrics = json.loads((Path(r["dir"]) / "metrics.json").read_text(encoding="utf-8"))
        # the row is the model's own quiz run, read back (same numbers qgen quiz prints)
        assert r["accuracy"] == metrics["overall"]["final"]["accuracy"]
        assert r["ece"] == metrics["overall"]["final"]["ece"] and r["brier"] == metrics["overall"]["final"]["brier"]
        assert set(r["files"]) == {"dev1.json", "dev2.json"} and r["n"] == 10
        assert (r["acc"], r["acc_norm"]) == tuple(metrics["overall"]["lm_eval"].values())
        assert metrics["settings"]["loglik_tokenization"] == "joint"  # not qgen-trained: the harness's split
    table = (d / "s1" / "sweep.md").read_text(encoding="utf-8").splitlines()
    assert table[0].startswith("| model | parameters | accuracy dev1.json | accuracy dev2.json | accuracy | acc |")
    assert len(table) == 2 + 3
    assert (d / "s1" / "sweep.png").read_bytes()[:4] == b"\x89PNG"


def test_sweep_resumes_and_reruns_on_changed_settings(setup, monkeypatch, capsys):
    d, models = setup
    assert _sweep(setup, "s2") == 0
    calls = []
    real = qgen.quiz.pipeline.run_quiz
    monkeypatch.setattr(qgen.quiz.pipeline, "run_quiz", lambda s, progress=False: calls.append(s.model) or real(s, progress))
    assert _sweep(setup, "s2") == 0
    assert calls == [] and capsys.readouterr().out.count("finished before, not run again") == 3
    second = json.loads((d / "s2" / "sweep.json").read_text(encoding="utf-8"))["models"][1]["dir"]
    (Path(second) / "sweep_run.json").unlink()  # as if interrupted while running the second model
    assert _sweep(setup, "s2") == 0
    assert calls == [models[1]]
    assert _sweep(setup, "s2", "--limit", "3") == 0  # other settings: every model runs again
    assert calls == [models[1], *models]
    rows = json.loads((d / "s2" / "sweep.json").read_text(encoding="utf-8"))["models"]
    assert [r["n"] for r in rows] == [6, 6, 6]


def test_config_precedence(tmp_path):
    cfg = tmp_path / "sweep.yaml"
    cfg.write_text("scoring: loglik\ndtype: fp32\nbatch_size: 8\nmodels:\n  - a/small\n"
                   "  - {model: a/big, label: big, dtype: bf16}\n", encoding="utf-8")
    args = build_parser().parse_args(["--config", str(cfg), "--input", "x.json", "--output-dir", "o",
                                      "--batch-size", "2", "--dtype", "fp16"])
    entries = plan(args)
    assert [e["dir"] for e in entries] == ["a__small", "a__big"]
    assert entries[0]["settings"] == {"scoring": "loglik", "dtype": "fp16", "batch_size": 2}  # flags over config
    assert entries[1]["settings"]["dtype"] == "bf16" and entries[1]["label"] == "big"  # the model's own entry wins


def test_bad_config_and_input(setup, tmp_path, capsys):
    d, models = setup
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("models:\n  - a/small\n  - {model: a/big, dtyp: bf16}\n", encoding="utf-8")
    argv = ["sweep", "--config", str(cfg), "--input", str(d / "dev1.json"), "--output-dir", str(tmp_path / "o")]
    assert quiz_main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "record 2" in err and "dtyp" in err and "\n" not in err
    assert quiz_main(["sweep", "--models", models[0], "--input", str(tmp_path / "missing.json"),
                      "--output-dir", str(tmp_path / "o")]) == 2
    assert "missing.json" in capsys.readouterr().err


def test_quiz_flags_come_from_quiz_settings():
    """The sweep's quiz flags are QuizSettings' fields (help, choices), with None defaults so a config can fill them."""
    import dataclasses

    from qgen.cli.quiz_sweep import PASSED
    from qgen.quiz.pipeline import QuizSettings

    actions = {a.dest: a for a in build_parser()._actions}
    fields = {f.name: f for f in dataclasses.fields(QuizSettings)}
    for name in PASSED:
        action, meta = actions[name], fields[name].metadata
        assert action.option_strings == ["--" + name.replace("_", "-")] and action.default is None
        assert action.help.startswith(meta["help"]), name
        assert tuple(action.choices or ()) == tuple(meta.get("choices") or (("true", "false") if name ==
                                                                             "add_bos_token" else ())), name


def test_config_values_are_read_as_quiz_settings_types(tmp_path):
    cfg = tmp_path / "sweep.yaml"
    cfg.write_text("batch_size: '8'\nadd_bos_token: yes\nmodels:\n  - a/small\n", encoding="utf-8")
    args = build_parser().parse_args(["--config", str(cfg), "--input", "x.json", "--output-dir", str(tmp_path / "o")])
    assert plan(args)[0]["settings"] == {"batch_size": 8, "add_bos_token": True}
    cfg.write_text("models:\n  - a/small\n  - {model: a/big, max_len: many}\n", encoding="utf-8")
    with pytest.raises(QgenInputError, match=r"sweep.yaml, record 2, field 'max_len': expected int, got 'many'"):
        plan(args)
