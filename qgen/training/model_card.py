"""A model card (the hub's README.md) filled from a qgen run: data, settings, validation curve, last `qgen eval`.

Everything comes from files the run wrote: the checkpoint's `qgen_config.yaml`, the run's `metrics.jsonl` (its
`valid` events) and `loss.png`, and the metrics JSON of the last `qgen eval` (the newest `*.metrics.json` under the
run directory unless one is named), shown with the BLEU / ROUGE signatures that name their tokeniser.
"""

from __future__ import annotations

import json
from pathlib import Path

from qgen.core.constants import SAVED_NAME
from qgen.core.errors import QgenInputError
from qgen.training.config import load_saved

SETTINGS = (("model", "model"), ("model", "task"), ("model", "prompt_format"), ("model", "max_len"),
            ("model", "train_on_inputs"), ("model", "precision"), ("data", "batch_size"), ("optim", "grad_accum"),
            ("optim", "epochs"), ("optim", "max_steps"), ("optim", "optimizer"), ("optim", "lr"),
            ("optim", "scheduler"), ("optim", "warmup_ratio"), ("optim", "warmup_steps"), ("optim", "weight_decay"),
            ("lora", "lora_r"), ("lora", "lora_alpha"), ("lora", "lora_dropout"), ("lora", "lora_target_modules"),
            ("lora", "quantization"), ("run", "seed"))


def run_dir(checkpoint: Path) -> Path:
    """The run directory of a `best/` or `last/` checkpoint (where metrics.jsonl is), else the checkpoint itself."""
    return checkpoint.parent if (checkpoint.parent / "metrics.jsonl").is_file() else checkpoint


def find_eval_metrics(checkpoint: Path) -> Path | None:
    """The newest `*.metrics.json` (what `qgen eval` writes) under the checkpoint's run directory, if any."""
    found = [p for p in run_dir(checkpoint).rglob("*.metrics.json") if p.is_file()]
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


def validation_curve(checkpoint: Path) -> list[tuple[int, float]]:
    """(step, valid_loss) of every validation the run logged."""
    log = run_dir(checkpoint) / "metrics.jsonl"
    if not log.is_file():
        return []
    curve = []
    for line in log.read_text(encoding="utf-8").splitlines():
        try:
            r = json.loads(line)
        except json.JSONDecodeError:  # a line cut by a killed run: the others still count
            continue
        if isinstance(r, dict) and r.get("event") == "valid" and "valid_loss" in r:
            curve.append((int(r["step"]), float(r["valid_loss"])))
    return curve


def _eval_section(path: Path | None) -> list[str]:
    if path is None:
        return ["No `qgen eval` metrics were found under the run directory."]
    try:
        metrics = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise QgenInputError(f"unreadable eval metrics: {e}", path=path) from None
    numbers = {k: v for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    signatures = {k: v for k, v in metrics.items() if k.endswith("signature")}
    lines = [f"From `{path.name}` (`qgen eval` on `{Path(str(metrics.get('predictions', '?'))).name}`).", "",
             "| metric | value |", "| --- | --- |"]
    lines += [f"| {k} | {v:.4g} |" for k, v in numbers.items()]
    lines += ["", "Signatures (tokeniser and settings of each score):", ""]
    lines += [f"- {k}: `{v}`" for k, v in signatures.items()] or ["- none recorded"]
    return lines


def _hub_id(name: str) -> bool:
    """ORG/NAME of a hub model (the card's base_model), not a local directory."""
    return name.count("/") == 1 and not name.startswith((".", "/")) and not Path(name).exists()


def card_text(checkpoint: Path, repo_id: str, eval_metrics: Path | None = None, has_plot: bool = False) -> str:
    """The README.md for `checkpoint` published as `repo_id`."""
    if not (checkpoint / SAVED_NAME).is_file():
        raise QgenInputError(f"no {SAVED_NAME}: not a qgen checkpoint (best/ or last/ of a run)", path=checkpoint)
    cfg = load_saved(checkpoint)
    adapter = (checkpoint / "adapter_config.json").is_file()
    front = ["---", f"library_name: {'peft' if adapter else 'transformers'}", "tags: [qgen]",
             f"language: [{cfg.model.lang}]"] + ([f"base_model: {cfg.model.model}"] if _hub_id(cfg.model.model)
                                                else []) + ["---", ""]
    d = cfg.data
    valid = (f"`{Path(d.valid_file).name}`" if d.valid_file else
             f"{d.valid_size:g} of the training examples held out" if d.valid_size else "none")
    lines = front + [f"# {repo_id.split('/')[-1]}", "",
                     f"Fine-tuned with qgen from `{cfg.model.model}`"
                     f"{' (a LoRA adapter)' if adapter else ''}.", "", "## Data", "",
                     f"- training: `{Path(d.train_file).name}`", f"- validation: {valid}", "", "## Settings", "",
                     "| setting | value |", "| --- | --- |"]
    lines += [f"| {name} | {getattr(getattr(cfg, group), name)} |" for group, name in SETTINGS]
    curve = validation_curve(checkpoint)
    lines += ["", "## Validation curve", ""]
    if curve:
        best = min(curve, key=lambda c: c[1])
        lines += ["| step | valid_loss |", "| --- | --- |"] + [f"| {s} | {v:.4f} |" for s, v in curve]
        lines += ["", f"Lowest validation loss {best[1]:.4f} at step {best[0]}."]
    else:
        lines += ["No validation was logged."]
    if has_plot:
        lines += ["", "![training and validation loss](loss.png)"]
    lines += ["", "## Evaluation", ""] + _eval_section(eval_metrics)
    return "\n".join(lines) + "\n"
