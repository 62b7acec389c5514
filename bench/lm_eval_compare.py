"""Check `qgen quiz --scoring loglik --loglik-tokenization joint` against lm-evaluation-harness on the same items.

    # 1. qgen: every result.json record carries the prompt it scored
    qgen quiz --model M --input dev.json --output-dir res --scoring loglik --loglik-tokenization joint
    # 2. the same items as a local harness task (JSONL + task YAML; target_delimiter "" as qgen's default)
    python bench/lm_eval_compare.py export --result res/result.json --task-dir tasks --name qgen_quiz
    # 3. the harness (its own virtual environment: it is not a qgen dependency)
    lm_eval --model hf --model_args pretrained=M,dtype=float32 --tasks qgen_quiz --include_path tasks \
        --device cpu --batch_size 8 --log_samples --output_path lmeval
    # 4. per-choice log-likelihoods, picks and acc / acc_norm side by side
    python bench/lm_eval_compare.py compare --result res/result.json --samples lmeval

Only the standard library is used, so the script runs in either environment.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
from pathlib import Path

TASK = """task: {name}
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: multiple_choice
doc_to_text: prompt
doc_to_choice: choices
doc_to_target: gold
target_delimiter: {delimiter}
metric_list:
  - metric: acc
  - metric: acc_norm
"""


def export(result: Path, task_dir: Path, name: str, delimiter: str) -> None:
    records = json.loads(result.read_text(encoding="utf-8"))
    task_dir.mkdir(parents=True, exist_ok=True)
    data = task_dir / f"{name}.jsonl"
    lines = [json.dumps({"id": r["id"], "prompt": r["prompt"], "choices": r["choices"], "gold": r["gold"]},
                        ensure_ascii=False) for r in records]
    for path, text in ((data, "\n".join(lines) + "\n"),
                       (task_dir / f"{name}.yaml", TASK.format(name=name, data=data.resolve(),
                                                                delimiter=json.dumps(delimiter)))):
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    print(f"wrote {data} and {task_dir / (name + '.yaml')} ({len(records)} items)")


def _argmax(values: list[float]) -> int:
    return max(range(len(values)), key=values.__getitem__)


def compare(result: Path, samples_dir: Path) -> dict:
    ours = {r["id"]: r for r in json.loads(result.read_text(encoding="utf-8"))}
    files = glob.glob(str(samples_dir / "**" / "samples_*.jsonl"), recursive=True)
    if not files:
        raise SystemExit(f"error: no samples_*.jsonl under {samples_dir} (run lm_eval with --log_samples)")
    samples = [json.loads(line) for f in files for line in Path(f).read_text(encoding="utf-8").splitlines()]
    out = {"items": 0, "choices": 0, "same_context": 0, "same_picks": 0, "max_abs_diff": 0.0,
           "harness": {"acc": 0.0, "acc_norm": 0.0}, "qgen": {"acc": 0.0, "acc_norm": 0.0}}
    for s in samples:
        r = ours[str(s["doc"]["id"])]
        lls = [float(x[0]) for x in s["filtered_resps"]]
        args = [s["arguments"][f"gen_args_{i}"] for i in range(len(lls))]
        normed = [v / len(c) for v, c in zip(lls, r["choices"])]
        out["items"] += 1
        out["choices"] += len(lls)
        out["same_context"] += all(a["arg_0"] == r["prompt"] for a in args)
        out["same_picks"] += _argmax(lls) == r["pred_acc"] and _argmax(normed) == r["pred_acc_norm"]
        out["max_abs_diff"] = max(out["max_abs_diff"], *(abs(a - b) for a, b in zip(lls, r["scores"])))
        for key in ("acc", "acc_norm"):
            out["harness"][key] += float(s[key])
            out["qgen"][key] += float(r[key])
    for side in ("harness", "qgen"):
        out[side] = {k: v / max(1, out["items"]) for k, v in out[side].items()}
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0], allow_abbrev=False)
    sub = p.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("export", help="result.json → harness task (JSONL + YAML)", allow_abbrev=False)
    e.add_argument("--result", type=Path, required=True)
    e.add_argument("--task-dir", type=Path, required=True)
    e.add_argument("--name", default="qgen_quiz")
    e.add_argument("--target-delimiter", default="", help="as given to qgen quiz (default '')")
    c = sub.add_parser("compare", help="result.json vs the harness's logged samples", allow_abbrev=False)
    c.add_argument("--result", type=Path, required=True)
    c.add_argument("--samples", type=Path, required=True, help="lm_eval --output_path directory")
    args = p.parse_args()
    if args.cmd == "export":
        export(args.result, args.task_dir, args.name, args.target_delimiter)
    else:
        o = compare(args.result, args.samples)
        print(f"items {o['items']} (choices {o['choices']}), contexts equal to qgen's prompt {o['same_context']}, "
              f"max |delta loglik| {o['max_abs_diff']:.2e}, same acc/acc_norm picks {o['same_picks']}\n"
              f"harness acc {o['harness']['acc']:.4f} acc_norm {o['harness']['acc_norm']:.4f}\n"
              f"qgen    acc {o['qgen']['acc']:.4f} acc_norm {o['qgen']['acc_norm']:.4f}")


if __name__ == "__main__":
    main()
