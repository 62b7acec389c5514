"""The seed recipes at the models' real sizes on this CPU, qgen beside the HF Trainer / Seq2SeqTrainer (issue 23).

    nice -n 10 .venv/bin/python bench/real_size.py [--rows t5-base,gpt2-medium,...] [--steps 3] [--rounds 1]
    .venv/bin/python bench/real_size.py --memory-only        # the memory model alone, every row, no training

Each row trains K+1 optimiser steps (one warm-up step's worth of extra rows, the recipe's batch) on exactly
(K+1) x batch rows, one epoch, with qgen and with the HF Trainer (group_by_length, same rows, same tokenisation, same
model/LoRA/QLoRA setup, same AdamW, scheduler, warmup, clipping), in fresh processes that alternate (bench/compare_hf.py
--spec does the running and timing). The models are `qgen build-model --like` stand-ins (real shapes and vocabulary
sizes, random weights) built once under runs/like/. Recipes are run as written except: fp32 on the CPU, no validation,
no saving, and JSQuAD *valid* rows (the train split is not in the shared data).

Reported per row: parameters (all / trained), seconds per optimiser step and real (non-pad) tokens per second of the
timed loop (first training forward -> last optimiser step) for both, their ratio, peak RSS for both, and the memory
model (qgen.training.memory) beside the measured peaks.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
DATA = Path(os.environ.get("QGEN_DATA_DIR", REPO.parent / "shared" / "data"))
LIKE_DIR = REPO / "runs" / "like"
COMPARE = REPO / "bench" / "compare_hf.py"


@dataclass(frozen=True)
class Row:
    like: str
    recipe: str
    data: str  # jsquad-aqg | jsquad-aqg_hl | jcqa-quiz | korquad
    hf: bool = True  # also run the HF Trainer


ROWS = {
    "t5-base": Row("sonoisa/t5-base-japanese", "configs/t5-base-jsquad-aqg.yaml", "jsquad-aqg"),
    "gpt2-medium": Row("rinna/japanese-gpt2-medium", "configs/gpt2-medium-jsquad-aqg-hl.yaml", "jsquad-aqg_hl"),
    "open-calm-small": Row("cyberagent/open-calm-small", "configs/opencalm-small-quiz-qlora.yaml", "jcqa-quiz"),
    "open-calm-1b": Row("cyberagent/open-calm-1b", "configs/opencalm-small-quiz-qlora.yaml", "jcqa-quiz"),
    "llama2-7b": Row("meta-llama/Llama-2-7b-hf", "configs/llama2-7b-korquad-qlora.yaml", "korquad", hf=False),
}
DROP = {"model", "train_file", "valid_file", "output_dir", "metric", "early_stopping_patience", "valid_batch_size"}


def recipe_settings(path: str) -> dict:
    """The recipe's settings, flat (its groups merged), less what the benchmark sets itself."""
    doc = yaml.safe_load((REPO / path).read_text(encoding="utf-8"))
    flat = {k: v for group in doc.values() for k, v in group.items()}
    return {k: v for k, v in flat.items() if k not in DROP}


# --shrink: the same architectures two layers deep and 64 wide with a 3,000-token vocabulary (a minute on the CPU):
# checks every step of this script and of bench/gpu_check.sh without the real sizes
SHRINK = {
    "t5": {"d_model": 64, "d_kv": 16, "d_ff": 128, "num_layers": 2, "num_decoder_layers": 2, "num_heads": 4},
    "gpt2": {"n_embd": 64, "n_inner": 128, "n_layer": 2, "n_head": 4},
    "gpt_neox": {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4},
    "llama": {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
              "num_key_value_heads": 4},
}


def stand_in(like: str, shrink: bool = False) -> Path:
    from qgen.models.stand_ins import build_like, recorded_config

    if not shrink:
        return build_like(like, LIKE_DIR / like.split("/")[-1], data_dir=DATA)
    from qgen.models.stand_ins import LIKE, local_texts

    texts = local_texts(DATA, LIKE[like], max_chars=200_000)
    return build_like(like, LIKE_DIR.with_name("like-shrunk") / like.split("/")[-1], texts, vocab_size=3000,
                      config_overrides=SHRINK[recorded_config(like)["model_type"]])


def prepare_rows(kind: str, n: int, work: Path) -> Path:
    """The first `n` rows of the recipe's data, written where the workers read them."""
    if kind.startswith("jsquad"):
        from qgen.data.jsquad import convert
        from qgen.data.squad import read_squad
        from qgen.data.tsv import write_tsv

        questions, _ = read_squad(DATA / "jglue" / "jsquad-v1.3" / "valid-v1.3.json")
        out = work / f"{kind}.tsv"
        write_tsv(out, convert(questions, kind.split("-", 1)[1])[:n])
        return out
    if kind == "jcqa-quiz":
        out = work / "jcqa-train.json"
        cmd = ["prepare", "--input", str(DATA / "jglue" / "jcommonsenseqa-v1.3" / "train-v1.3.json"),
               "--template", "jcommonsenseqa-train", "--output", str(out), "--set", f"limit={n}"]
    else:
        out = work / "korquad.jsonl"
        cmd = ["prepare-korquad", "--input", str(DATA / "korquad" / "KorQuAD_v1.0_dev.json"), "--output", str(out),
               "--limit", str(n)]
    subprocess.run([sys.executable, "-m", "qgen.cli", *cmd], check=True, stdout=subprocess.DEVNULL)
    return out


def lengths(spec: dict) -> list[tuple[int, int]]:
    """(input tokens, target tokens) of each row, with qgen's own sequence format (the one both sides encode with)."""
    from qgen.data.examples import read_examples
    from qgen.models.formats.sequence import make_format
    from qgen.models.formats.special_tokens import add_special_tokens
    from qgen.models.loading import load_config, load_tokenizer, model_kind
    from qgen.training.config import from_dict

    cfg = from_dict(spec)
    m = cfg.model
    tok = load_tokenizer(m.model)
    add_special_tokens(tok, list(m.add_special_tokens))
    kind = model_kind(load_config(m.model))
    feats = [make_format(kind, tok, cfg.input_spec()).encode(e) for e in read_examples(spec["train_file"])]
    return [(len(f["input_ids"]), sum(1 for x in f["labels"] if x != -100)) for f in feats]


def run_worker(name: str, spec: dict, work: Path, kind: str, profile: int = 0) -> dict:
    cmd = [sys.executable, str(COMPARE), "--worker", name, "--work", str(work), "--kind", kind,
           "--train", spec["train_file"], "--model-dir", spec["model"], "--spec", json.dumps(spec),
           "--profile", str(profile)]
    t = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode:
        return {"error": (res.stderr or res.stdout)[-1500:], "wall": time.perf_counter() - t}
    if profile:  # cProfile's top functions by own time, whole process (start-up included)
        print(f"--- profile: {name}\n" + res.stderr[res.stderr.find("Ordered by"):], flush=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def _skips(m: dict, spec: dict) -> str:
    """Non-finite steps skipped (qgen: its own count; HF: optimizer steps the GradScaler did not take)."""
    gpu = f"GPU peak {m['gpu_peak_mib']:,.0f} MiB  " if "gpu_peak_mib" in m else ""
    if "rss_phases" in m:  # where the peak is: loading, the steps, or saving at the end
        gpu += "(load/loop/end " + "/".join(f"{v:,.0f}" for v in m["rss_phases"].values()) + ")  "
    if m.get("in_use_mib"):  # RSS less glibc's retained free heap: the memory the tensors and libraries use
        gpu += f"in use {m['in_use_mib']:,.0f}  "
    if "skipped_steps" in m:
        return f"{gpu}skipped {m['skipped_steps']}  "
    if "global_steps" in m:
        return f"{gpu}skipped {m['global_steps'] - m['steps']}  loss {m.get('train_loss', float('nan')):.3f}  "
    return gpu


def baseline_rss_mib() -> float:
    """Peak RSS of a process that only imports what a training run imports (the memory model's constant)."""
    code = ("import resource, torch, transformers, peft, bitsandbytes, qgen.training.loop;"
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(res.stdout.strip().splitlines()[-1])


GEN = {"rows": 32, "batch": 16, "beams": 4, "new_tokens": 64}


def gen_worker(side: str, model_dir: str, tsv: str, out: str) -> int:
    """One generation run in this process: qgen's predict.py, or HF `generate` on the same sources in the same
    batches; prints {"wall", "generate", "rss_mib", "outputs"} (wall: process start to end, loading included)."""
    t0 = time.perf_counter()
    if side == "qgen":
        from qgen.cli.predict import main as predict

        predict(["--model", model_dir, "--input", tsv, "--output", out, "--batch-size", str(GEN["batch"]),
                 "--num-beams", str(GEN["beams"]), "--max-new-tokens", str(GEN["new_tokens"])])
        outputs = [json.loads(line)["prediction"] for line in Path(out).read_text(encoding="utf-8").splitlines()]
        t_gen = c_gen = None
    else:
        import torch
        import transformers as tf

        tf.logging.set_verbosity_error()
        tok = tf.AutoTokenizer.from_pretrained(model_dir)
        model = tf.AutoModelForSeq2SeqLM.from_pretrained(model_dir).eval()
        sources = [line.split("\t")[1] for line in Path(tsv).read_text(encoding="utf-8").splitlines()]
        outputs, t1, c1 = [], time.perf_counter(), time.process_time()
        with torch.inference_mode():
            for i in range(0, len(sources), GEN["batch"]):
                enc = tok(sources[i:i + GEN["batch"]], return_tensors="pt", padding=True, truncation=True,
                          max_length=512)
                ids = model.generate(**enc, num_beams=GEN["beams"], max_new_tokens=GEN["new_tokens"],
                                     no_repeat_ngram_size=3)  # predict.py's default (qgen.inference.decoding)
                outputs += tok.batch_decode(ids, skip_special_tokens=True)
        t_gen = time.perf_counter() - t1
        c_gen = time.process_time() - c1
    print(json.dumps({"wall": time.perf_counter() - t0, "generate": t_gen, "cpu": time.process_time(),
                      "generate_cpu": c_gen, "outputs": outputs,
                      "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
    return 0


def generation_row(rounds: int, shrink: bool) -> None:
    """t5-base generation: predict.py (batched, beam 4) against HF `generate` (batched), alternating processes."""
    model_dir = stand_in("sonoisa/t5-base-japanese", shrink)
    with tempfile.TemporaryDirectory(prefix="qgen-real-gen-") as tmp:
        tsv = prepare_rows("jsquad-aqg", GEN["rows"], Path(tmp))
        print(f"\n## generation: t5-base stand-in, {GEN['rows']} JSQuAD sources, batch {GEN['batch']}, beam "
              f"{GEN['beams']}, {GEN['new_tokens']} new tokens at most (random weights: most run to the limit)",
              flush=True)
        outputs = {}
        for r in range(rounds):
            for side in ("qgen", "hf"):
                res = subprocess.run([sys.executable, __file__, "--gen-worker", side, "--model-dir", str(model_dir),
                                      "--train", str(tsv), "--out", str(Path(tmp) / f"{side}.jsonl")],
                                     capture_output=True, text=True)
                if res.returncode:
                    print(f"  {side}: FAILED\n{res.stderr[-1500:]}", flush=True)
                    continue
                m = json.loads(res.stdout.strip().splitlines()[-1])
                outputs[side] = m["outputs"]
                gen = (f"generate {m['generate']:6.1f} s (CPU {m['generate_cpu']:6.1f} s)  "
                       if m["generate"] is not None else "")
                print(f"  round {r + 1} {side:4s} wall {m['wall']:6.1f} s  CPU {m['cpu']:6.1f} s  {gen}peak RSS {m['rss_mib']:7,.0f} MiB  "
                      f"mean output {sum(map(len, m['outputs'])) / max(len(m['outputs']), 1):.0f} chars  "
                      f"load {os.getloadavg()[0]:.2f}", flush=True)
            if len(outputs) == 2:  # the same work only if the same questions come out
                same = sum(a == b for a, b in zip(outputs["qgen"], outputs["hf"]))
                print(f"  round {r + 1}: {same} of {len(outputs['qgen'])} outputs identical", flush=True)


def sizes(baseline: float) -> None:
    """What each model needs to train, from the memory model: full fine-tuning, LoRA and QLoRA (r 8 on the attention
    projections), batch 8 of 512 tokens (targets 64), fp32 on the CPU and bf16 autocast on a GPU (no libraries)."""
    from qgen.models.stand_ins import LIKE, config_for
    from qgen.training import memory

    rows = [(512, 64)] * 8
    setups = {"full": {}, "full, 8-bit Adam": {"optimizer": "adamw8bit"}, "LoRA": {"lora_r": 8}, "QLoRA": {"lora_r": 8, "quantization": "4bit"},
              "QLoRA+ckpt": {"lora_r": 8, "quantization": "4bit", "gradient_checkpointing": True}}
    print("| model | parameters | " + " | ".join(f"{k} CPU fp32 / GPU bf16 (GiB)" for k in setups) + " |")
    print("| --- | ---: | " + " | ".join("---:" for _ in setups) + " |")
    for name in LIKE:
        config = config_for(name)
        cells = []
        for extra in setups.values():
            cpu = memory.estimate(config, {"batch_size": 8, **extra}, rows, baseline_mib=baseline)
            gpu = memory.estimate(config, {"batch_size": 8, "precision": "bf16", **extra}, rows)
            cells.append(f"{cpu['total_mib'] / 1024:.1f} / {gpu['total_mib'] / 1024:.1f}")
        print(f"| {name} | {cpu['parameters'] / 1e6:,.0f}M | " + " | ".join(cells) + " |")


def table(path: Path, baseline: float) -> None:
    """The bench/README table from --json results; the memory model re-estimated with the current code."""
    from qgen.training import memory

    print("| row | parameters (trained) | qgen s/step | HF s/step | qgen tok/s | HF tok/s | qgen / HF speed | "
          "qgen peak RSS (load/loop/end) | HF peak RSS | memory model qgen / HF (vs peak) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    # runs with CPU times (compare_hf since 2026-12-05): seconds are the loop's CPU seconds, in use beside the RSS
    for line in path.read_text(encoding="utf-8").splitlines():
        d = json.loads(line)
        row = ROWS[d["row"]]
        spec_keys = {**recipe_settings(row.recipe), "batch_size": d["batch"]}  # --batch runs: their own batch
        with tempfile.TemporaryDirectory() as tmp:
            train = prepare_rows(row.data, d["rows"], Path(tmp))
            spec = {**spec_keys, "model": str(stand_in(row.like)), "train_file": str(train), "precision": "fp32"}
            lens = lengths(spec)
            est = {side: memory.estimate(spec["model"], spec, lens, side=side, baseline_mib=baseline)
                   for side in ("qgen", "hf")}
        cells = {}
        for side, key in (("qgen", "qgen"), ("hf", "hf-group")):
            ok = [m for m in d["results"].get(key, []) if "error" not in m]
            if not ok:
                cells[side] = None
                continue
            m = min(ok, key=lambda m: m.get("loop_cpu", m["loop"]))
            cells[side] = {**m, "loop": m["loop_cpu"]} if "loop_cpu" in m else m
        q, h = cells["qgen"], cells["hf"]

        def fmt(m, what, d=d):
            if m is None:
                return "–"
            if what == "step":
                return f"{m['loop'] / m['steps']:.1f}"
            if what == "tok":
                return f"{d['real_tokens'] / m['loop']:.1f}"
            ph = m.get("rss_phases")
            extra = " (" + "/".join(f"{v:,.0f}" for v in ph.values()) + ")" if ph and what == "rss+" else ""
            used = f", in use {m['in_use_mib']:,.0f}" if m.get("in_use_mib") else ""
            return f"{m['rss_mib']:,.0f}{extra}{used}"

        ratio = f"{h['loop'] / q['loop']:.2f}x" if q and h else "–"

        def vs(total, c):
            if not c:
                return ""
            used = f", {(total / c['in_use_mib'] - 1) * 100:+.0f}% of in use" if c.get("in_use_mib") else ""
            return f" ({(total / c['rss_mib'] - 1) * 100:+.0f}%{used})"

        model = " / ".join(f"{est[s]['total_mib']:,.0f}{vs(est[s]['total_mib'], c)}" for s, c in (("qgen", q), ("hf", h)))
        print(f"| {d['row']} | {est['qgen']['parameters'] / 1e6:,.1f}M ({est['qgen']['trainable'] / 1e6:,.2f}M) | "
              f"{fmt(q, 'step')} | {fmt(h, 'step')} | {fmt(q, 'tok')} | {fmt(h, 'tok')} | {ratio} | "
              f"{fmt(q, 'rss+')} | {fmt(h, 'rss')} | {model} |")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rows", default=",".join(ROWS), help="comma-separated: " + ", ".join(ROWS))
    p.add_argument("--steps", type=int, default=3, help="timed optimiser steps K (one more step's rows are run)")
    p.add_argument("--rounds", type=int, default=1, help="alternating qgen / HF rounds")
    p.add_argument("--no-hf", action="store_true", help="qgen only")
    p.add_argument("--memory-only", action="store_true", help="print the memory model of each row, train nothing")
    p.add_argument("--sizes", action="store_true", help="print what every --like model needs (README's Sizes table)")
    p.add_argument("--table", type=Path, help="print the markdown table of a --json results file and stop")
    p.add_argument("--generation", action="store_true", help="also the t5-base generation row (predict.py vs generate)")
    p.add_argument("--gen-worker", default="", help=argparse.SUPPRESS)
    p.add_argument("--model-dir", default="", help=argparse.SUPPRESS)
    p.add_argument("--train", default="", help=argparse.SUPPRESS)
    p.add_argument("--out", default="", help=argparse.SUPPRESS)
    p.add_argument("--json", type=Path, help="append each row's result to this JSON-lines file")
    p.add_argument("--precision", default="fp32", help="fp32 (the CPU) | bf16 | fp16 (a GPU: bench/gpu_check.sh)")
    p.add_argument("--qgen-extra", default="{}", help='JSON of settings for both sides, e.g. \'{"compile": true}\'')
    p.add_argument("--profile", type=int, default=0, help="cProfile each run; print its top N functions by own time")
    p.add_argument("--threads", type=int, default=0,
                   help="torch threads of both sides (OMP_NUM_THREADS for the workers; 0: that variable as set, else "
                        "each side's default: qgen's from the load, torch's one per core: not comparable on a busy "
                        "machine)")
    p.add_argument("--batch", type=int, default=0,
                   help="batch size of both sides instead of the recipe's (to fit a machine's memory; 0: the recipe's)")
    p.add_argument("--shrink", action="store_true", help="two-layer, 64-wide stand-ins: a quick check of the script")
    args = p.parse_args()
    if args.gen_worker:
        return gen_worker(args.gen_worker, args.model_dir, args.train, args.out)
    from qgen.training import memory

    if args.threads:  # inherited by every worker: qgen's --threads 0 and torch's default both follow it
        os.environ["OMP_NUM_THREADS"] = str(args.threads)
    base = baseline_rss_mib()
    if args.sizes:
        sizes(base)
        return 0
    if args.table:
        table(args.table, base)
        return 0
    print(f"# real_size: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, K={args.steps}, rounds={args.rounds}, "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, load {os.getloadavg()[0]:.2f}, "
          f"import-only RSS {base:.0f} MiB", flush=True)
    for key in [r for r in args.rows.split(",") if r]:
        row = ROWS[key]
        settings = recipe_settings(row.recipe)
        if args.batch:  # a smaller batch than the recipe's: both sides, said in the row's heading
            settings["batch_size"] = args.batch
        batch = settings["batch_size"]
        n = (args.steps + 1) * batch
        with tempfile.TemporaryDirectory(prefix=f"qgen-real-{key}-") as tmp:
            work = Path(tmp)
            model_dir = stand_in(row.like, args.shrink)
            train = prepare_rows(row.data, n, work)
            spec = {**settings, "model": str(model_dir), "train_file": str(train), "valid_file": "", "epochs": 1,
                    "max_steps": args.steps + 1, "precision": args.precision, "log_steps": 1, "save_steps": 0,
                    **json.loads(args.qgen_extra)}
            lens = lengths(spec)
            kind = "seq2seq" if row.like.startswith("sonoisa") else "causal"
            est = {side: memory.estimate(model_dir, spec, lens, side=side, baseline_mib=base) for side in ("qgen", "hf")}
            real = sum(a + (b if kind == "seq2seq" else 0) for a, b in lens)
            print(f"\n## {key}: {row.like} ({est['qgen']['parameters'] / 1e6:,.1f}M parameters, "
                  f"{est['qgen']['trainable'] / 1e6:,.2f}M trained), {row.recipe}, {len(lens)} rows, batch {batch}, "
                  f"real tokens {real:,}", flush=True)
            for side in ("qgen", "hf"):
                print(f"  memory model {side}: " + ", ".join(f"{k} {v:,.0f}" for k, v in est[side]["mib"].items())
                      + f" -> {est[side]['total_mib']:,.0f} MiB", flush=True)
            if args.memory_only:
                continue
            names = ["qgen"] + (["hf-group"] if row.hf and not args.no_hf else [])
            results: dict[str, list[dict]] = {nm: [] for nm in names}
            for r in range(args.rounds):
                for nm in names:
                    m = run_worker(nm, spec, work, kind, args.profile)
                    results[nm].append(m)
                    if "error" in m:
                        print(f"  round {r + 1} {nm}: FAILED after {m['wall']:.0f} s\n{m['error']}", flush=True)
                        continue
                    cpu = (f"CPU start-up {m['startup_cpu']:6.1f} s  loop {m['loop_cpu']:7.1f} s  "
                           if "loop_cpu" in m else "")
                    print(f"  round {r + 1} {nm:8s} {cpu}start-up {m['startup']:6.1f} s  loop {m['loop']:7.1f} s  "
                          f"steps {m['steps']}  {m['loop'] / max(m['steps'], 1):7.1f} s/step  "
                          f"{real / m['loop']:7.1f} tok/s  peak RSS {m['rss_mib']:7,.0f} MiB  "
                          f"{_skips(m, spec)}load {os.getloadavg()[0]:.2f}", flush=True)
            summary = {"row": key, "like": row.like, "recipe": row.recipe, "rows": len(lens), "batch": batch,
                       "real_tokens": real, "memory_model": est, "results": results,
                       "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
            ok = {nm: [m for m in results[nm] if "error" not in m] for nm in names}
            if ok.get("qgen") and ok.get("hf-group"):
                q = min(m["loop"] for m in ok["qgen"])
                h = min(m["loop"] for m in ok["hf-group"])
                if all("loop_cpu" in m for m in ok["qgen"] + ok["hf-group"]):  # the work, whatever the neighbours did
                    qc = min(m["loop_cpu"] for m in ok["qgen"])
                    hc = min(m["loop_cpu"] for m in ok["hf-group"])
                    qs = min(m["startup_cpu"] for m in ok["qgen"])
                    hs = min(m["startup_cpu"] for m in ok["hf-group"])
                    print(f"  => CPU time: loop qgen {qc:.1f} s vs HF {hc:.1f} s: {hc / qc:.2f}x; start-up {qs:.1f} vs "
                          f"{hs:.1f} s", flush=True)
                qr = max(m["rss_mib"] for m in ok["qgen"])
                hr = max(m["rss_mib"] for m in ok["hf-group"])
                qu = max(m.get("in_use_mib", 0) for m in ok["qgen"])
                hu = max(m.get("in_use_mib", 0) for m in ok["hf-group"])
                print(f"  => qgen {real / q:.1f} tok/s vs HF {real / h:.1f}: {h / q:.2f}x; peak RSS {qr:,.0f} vs "
                      f"{hr:,.0f} MiB (in use {qu:,.0f} vs {hu:,.0f}); memory model {est['qgen']['total_mib']:,.0f} "
                      f"({(est['qgen']['total_mib'] / qr - 1) * 100:+.0f}% of the peak RSS, "
                      f"{(est['qgen']['total_mib'] / max(qu, 1) - 1) * 100:+.0f}% of in use) vs "
                      f"{est['hf']['total_mib']:,.0f} ({(est['hf']['total_mib'] / hr - 1) * 100:+.0f}%, "
                      f"{(est['hf']['total_mib'] / max(hu, 1) - 1) * 100:+.0f}%)", flush=True)
            if args.json:
                with args.json.open("a", encoding="utf-8") as f:
                    f.write(json.dumps(summary) + "\n")
    if args.generation:
        generation_row(args.rounds, args.shrink)
    print(f"# done, load {os.getloadavg()[0]:.2f}, parent peak RSS "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
