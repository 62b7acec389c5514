"""qgen's training loop against the HF Trainer / Seq2SeqTrainer on the same model directory and rows, one epoch each.

    nice -n 10 .venv/bin/python bench/compare_hf.py --model t5 [--rows 1000] [--rounds 2]
    nice -n 10 .venv/bin/python bench/compare_hf.py --model causal [--rows 1000] [--rounds 2]

t5: JSQuAD-valid AQG rows (qgen.data.jsquad.convert "aqg") on runs/qgen-small-ja/untrained-v8k (9.4M T5, 8k
sentencepiece vocabulary; read only). causal: JCommonsenseQA train rows in the train-style instruction format
(`qgen prepare --template jcommonsenseqa-train`) on a tiny-gpt-neox directory built once from those texts.

Every round runs each contender in a fresh subprocess, alternating (qgen, HF defaults, HF group_by_length, qgen, ...),
so contention from other work on the machine hits all of them alike. The HF side is configured like qgen: same batch
size, learning rate, AdamW (torch), linear schedule without warmup, gradient clipping 1.0, fp32, no evaluation, no
saving, 0 dataloader workers, same tokenisation and max lengths (both sides encode with qgen's sequence format, so the token
ids are identical), default torch threads on both. The optimizer is each side's default AdamW: HF's `optim` default
(`adamw_torch_fused` with torch ≥ 2.8) and qgen's (fused too since issue 14); `--hf-optim adamw_torch` gives the
for-loop AdamW the first measurements used.

`--only qgen-ref,qgen,hf,hf-group --ref-extra '{"target_logits": false}'` adds qgen with other settings as its own
contender, alternating with the rest: a before/after of one qgen change inside one run.

What is timed, the same way on both sides (global module / optimizer hooks, no change to either loop):
  start-up = process start (before imports) → first training forward: imports, reading, tokenising, model build
  loop     = first training forward → last optimizer step returns (qgen's and HF's final save are left out)
Reported: real (non-pad) tokens per second of loop time, the ratio to qgen, peak RSS of the process (ru_maxrss).

`--spec JSON` (used by bench/real_size.py) gives a whole qgen config instead of the defaults above: both sides then
load the model, tokenizer, LoRA/QLoRA wrapping and gradient checkpointing with qgen.training.trainable_model.build (plain
transformers + peft + bitsandbytes calls, what a Trainer user writes), encode with the same sequence format, and the HF
Trainer takes the batch size, learning rate, scheduler, warmup, clipping, weight decay and step count of that config.
"""

from __future__ import annotations

T_PROCESS = __import__("time").perf_counter()  # noqa: E402 — before every other import: start-up includes imports

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
DATA = Path(os.environ.get("QGEN_DATA_DIR", REPO.parent / "shared" / "data"))
T5_MODEL = REPO / "runs" / "qgen-small-ja" / "untrained-v8k"
BATCH, LR, SEED = 16, 3e-4, 42
LENGTHS = {"max_source_len": 512, "max_target_len": 64, "max_len": 512}


# ---------------------------------------------------------------------------------------------------- worker side
class Clock:
    """First training forward and last optimizer step, via global hooks (identical for both loops)."""

    def __init__(self):
        import torch

        self.first = self.last = None
        self.first_cpu = self.last_cpu = None  # the same instants in process CPU time (all threads)
        self.steps = 0
        self.target = 1 << 30  # optimizer steps of the run when known (--spec: max_steps)

        def fwd(module, args):
            if self.first is None and module.training and hasattr(module, "config"):  # the model, before its parts
                self.first, self.first_cpu = time.perf_counter(), time.process_time()

        def step(opt, args, kwargs):
            self.steps += 1
            self.last, self.last_cpu = time.perf_counter(), time.process_time()

        from torch.optim.optimizer import register_optimizer_step_post_hook

        torch.nn.modules.module.register_module_forward_pre_hook(fwd)
        register_optimizer_step_post_hook(step)


def _heap_free():
    """() -> bytes glibc's malloc holds freed but has not returned to the system (mallinfo2's fordblks), or None
    where there is no glibc >= 2.33."""
    import ctypes

    class MallInfo2(ctypes.Structure):
        _fields_ = [(n, ctypes.c_size_t) for n in
                    "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()]

    try:
        fn = ctypes.CDLL("libc.so.6").mallinfo2
    except (OSError, AttributeError):
        return None
    fn.restype = MallInfo2
    return lambda: fn().fordblks


class RssPhases:
    """Peak RSS of each phase, sampled every 20 ms from /proc: load (before the first training forward), loop (to the
    last optimizer step), end (saving, exit): which phase sets a run's peak. Also the peak of RSS less the freed
    memory glibc keeps (mallinfo2, every 100 ms): the memory in use, what a memory model of the tensors can predict;
    the rest of the RSS is freed heap the allocator has not handed back (fragmentation)."""

    def __init__(self, clock: Clock):
        import threading

        self.peak = {"load": 0.0, "loop": 0.0, "end": 0.0}
        self.in_use = 0.0
        page = os.sysconf("SC_PAGE_SIZE")
        heap_free = _heap_free()

        def sample():
            n = 0
            while True:
                with open("/proc/self/statm") as f:
                    rss = int(f.read().split()[1]) * page / 2**20
                phase = "load" if clock.first is None else "loop" if clock.steps < clock.target else "end"
                self.peak[phase] = max(self.peak[phase], rss)
                if heap_free is not None and n % 5 == 0:
                    self.in_use = max(self.in_use, rss - heap_free() / 2**20)
                n += 1
                time.sleep(0.02)

        threading.Thread(target=sample, daemon=True).start()


def format_for(model_dir: str, kind: str):
    from qgen.models.formats.sequence import make_format
    from qgen.models.input_spec import InputSpec
    from qgen.models.loading import load_tokenizer

    return make_format(kind, load_tokenizer(model_dir), InputSpec(**LENGTHS))


def run_qgen(args, work: Path) -> dict | None:
    from qgen import train

    out = work / "qgen-out"
    shutil.rmtree(out, ignore_errors=True)
    if args.spec:
        summary = train({**json.loads(args.spec), "output_dir": str(out), **json.loads(args.qgen_extra or "{}")})
        return {"skipped_steps": summary.get("skipped_steps"), "train_loss": summary.get("train_loss")}
    conf = {"model": args.model_dir, "train_file": args.train, "output_dir": str(out), "epochs": 1,
            "batch_size": BATCH, "lr": LR, "precision": "fp32", "seed": SEED, "log_steps": 10, **LENGTHS}
    if args.kind == "seq2seq":
        conf["task"] = "aqg"
    conf.update(json.loads((args.ref_extra if args.worker == "qgen-ref" else args.qgen_extra) or "{}"))
    train(conf)


HF_OPTIM = {"adamw8bit": {"optim": "adamw_bnb_8bit"}, "paged_adamw8bit": {"optim": "paged_adamw_8bit"},
            "sgd": {"optim": "sgd"}}  # adamw: HF's default (fused torch AdamW), as qgen's


def run_hf_spec(args, work: Path, group: bool) -> dict:
    """The HF Trainer on the model qgen's own setup loads for the config in --spec (see the module docstring)."""
    import torch
    import transformers
    from transformers import DataCollatorForSeq2Seq, Seq2SeqTrainer, Seq2SeqTrainingArguments

    from qgen.data.examples import read_examples
    from qgen.training.config import from_dict
    from qgen.training.trainable_model import build

    transformers.logging.set_verbosity_error()
    cfg = from_dict({**json.loads(args.spec), "output_dir": str(work / "hf-out")})
    transformers.set_seed(cfg.run.seed)
    loaded = build(cfg)
    rows = [loaded.format.encode(e) for e in read_examples(cfg.data.train_file)]
    collator = DataCollatorForSeq2Seq(loaded.tokenizer, model=loaded.model if loaded.kind == "seq2seq" else None,
                                      label_pad_token_id=-100, padding=True)
    o = cfg.optim
    targs = Seq2SeqTrainingArguments(
        output_dir=str(work / "hf-out"), per_device_train_batch_size=cfg.data.batch_size, learning_rate=o.lr,
        num_train_epochs=o.epochs, max_steps=o.max_steps or -1, weight_decay=o.weight_decay,
        max_grad_norm=o.max_grad_norm, lr_scheduler_type=o.scheduler, warmup_steps=o.warmup_steps or o.warmup_ratio,  # < 1: a ratio
        gradient_accumulation_steps=o.grad_accum, **HF_OPTIM.get(o.optimizer, {}), save_strategy="no", eval_strategy="no", report_to=[],
        dataloader_num_workers=0, logging_steps=10, use_cpu=not torch.cuda.is_available(), seed=cfg.run.seed,
        disable_tqdm=True, train_sampling_strategy="group_by_length" if group else "random",
        bf16=cfg.model.precision == "bf16", fp16=cfg.model.precision == "fp16", torch_compile=cfg.run.compile)
    trainer = Seq2SeqTrainer(model=loaded.model, args=targs, train_dataset=rows, data_collator=collator)
    out = trainer.train()
    # fp16: the GradScaler skips optimizer.step() on inf/NaN gradients; the step hook counts the ones taken
    return {"global_steps": out.global_step, "train_loss": out.training_loss}


def run_hf(args, work: Path, group: bool) -> None:
    import torch
    import transformers
    from transformers import DataCollatorForSeq2Seq, Trainer, TrainingArguments

    from qgen.data.examples import read_examples

    transformers.logging.set_verbosity_error()
    sequence_format = format_for(args.model_dir, args.kind)
    rows = [sequence_format.encode(e) for e in read_examples(args.train)]
    auto = transformers.AutoModelForSeq2SeqLM if args.kind == "seq2seq" else transformers.AutoModelForCausalLM
    transformers.set_seed(SEED)
    model = auto.from_pretrained(args.model_dir, torch_dtype="float32")
    collator = DataCollatorForSeq2Seq(sequence_format.tokenizer, model=model if args.kind == "seq2seq" else None,
                                      label_pad_token_id=-100, padding=True)
    optim = {"optim": args.hf_optim} if args.hf_optim else {}  # default: HF's own (adamw_torch_fused on torch ≥ 2.8)
    targs = dict(output_dir=str(work / "hf-out"), per_device_train_batch_size=BATCH, learning_rate=LR,
                 num_train_epochs=1, **optim, weight_decay=0.0, max_grad_norm=1.0,
                 lr_scheduler_type="linear", warmup_steps=0, save_strategy="no", eval_strategy="no", report_to=[],
                 dataloader_num_workers=0, logging_steps=10, use_cpu=not torch.cuda.is_available(), seed=SEED,
                 disable_tqdm=True,
                 train_sampling_strategy="group_by_length" if group else "random", bf16=False, fp16=False)
    if args.kind == "seq2seq":
        from transformers import Seq2SeqTrainer as T
        from transformers import Seq2SeqTrainingArguments as A
    else:
        T, A = Trainer, TrainingArguments
    trainer = T(model=model, args=A(**targs), train_dataset=rows, data_collator=collator)
    trainer.train()


def worker(args) -> int:
    import logging

    logging.disable(logging.WARNING)
    clock = Clock()
    if args.spec:
        clock.target = json.loads(args.spec).get("max_steps") or clock.target
    phases = RssPhases(clock)
    work = Path(args.work)
    with open(os.devnull, "w") as devnull:
        saved = os.dup(1), os.dup(2)
        os.dup2(devnull.fileno(), 1), os.dup2(devnull.fileno(), 2)
        prof, extra = None, None
        if args.profile:
            import cProfile

            prof = cProfile.Profile()
            prof.enable()
        try:
            if args.worker.startswith("qgen"):
                extra = run_qgen(args, work)
            elif args.spec:
                extra = run_hf_spec(args, work, group=args.worker == "hf-group")
            else:
                run_hf(args, work, group=args.worker == "hf-group")
        finally:
            if prof is not None:
                prof.disable()
            os.dup2(saved[0], 1), os.dup2(saved[1], 2)
    if prof is not None:  # top functions by own time (torch ops show as their Python entry points)
        import io
        import pstats

        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(args.profile)
        print(buf.getvalue(), file=sys.stderr)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():  # a GPU run (bench/gpu_check.sh): its peak too
        extra = {**(extra or {}), "gpu_peak_mib": torch.cuda.max_memory_allocated() / 2**20}
    # CPU seconds: on a machine other jobs share, wall time measures the neighbours as much as the work; with the
    # threads pinned (bench/real_size.py --threads 1) the CPU time of the loop is the work itself
    print(json.dumps({"startup": clock.first - T_PROCESS, "loop": clock.last - clock.first, "steps": clock.steps,
                      "startup_cpu": clock.first_cpu, "loop_cpu": clock.last_cpu - clock.first_cpu,
                      "rss_mib": rss, "rss_phases": phases.peak, "in_use_mib": phases.in_use, **(extra or {})}))
    return 0


# ---------------------------------------------------------------------------------------------------- parent side
def prepare(args, work: Path) -> tuple[str, str, str, int]:
    """Write the rows (subset) and return (model_dir, kind, train_file, real tokens of one epoch)."""
    from qgen.data.examples import read_examples
    from qgen.data.tsv import write_tsv

    if args.model == "t5":
        from qgen.data.jsquad import convert
        from qgen.data.squad import read_squad

        questions, _ = read_squad(DATA / "jglue" / "jsquad-v1.3" / "valid-v1.3.json")
        examples = convert(questions, "aqg")
        examples = examples[: args.rows] if args.rows else examples
        train = work / "train.tsv"
        write_tsv(train, examples)
        model_dir, kind = str(args.model_dir or T5_MODEL), "seq2seq"
    else:
        full = work / "jcqa-train.json"
        extra = ["--set", f"limit={args.rows}"] if args.rows else []
        subprocess.run([sys.executable, "-m", "qgen.cli", "prepare", "--input",
                        str(DATA / "jglue" / "jcommonsenseqa-v1.3" / "train-v1.3.json"), "--template",
                        "jcommonsenseqa-train", "--output", str(full), *extra], check=True, stdout=subprocess.DEVNULL)
        train, kind = full, "causal"
        examples = read_examples(train)
        if args.model_dir:
            model_dir = str(args.model_dir)
        else:
            from qgen.models.loading import resolve

            texts = [e.source + "\n" + e.target for e in examples]
            model_dir = resolve("tiny-gpt-neox", texts, work / "tiny")
    sequence_format = format_for(model_dir, kind)
    feats = [sequence_format.encode(e) for e in read_examples(train)]
    real = sum(len(f["input_ids"]) + (len(f["labels"]) if kind == "seq2seq" else 0) for f in feats)
    return model_dir, kind, str(train), real


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", choices=("t5", "causal"), default="t5")
    p.add_argument("--model-dir", default="", help="model directory (default: the untrained 8k T5 / a tiny-gpt-neox)")
    p.add_argument("--rows", type=int, default=0, help="first N rows only (0 = all: 4,442 JSQuAD / 8,939 JCQA)")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--only", default="qgen,hf,hf-group", help="contenders, comma-separated")
    p.add_argument("--qgen-extra", default="", help="JSON of extra qgen config keys, e.g. '{\"max_tokens\": 4096}'")
    p.add_argument("--ref-extra", default="", help="JSON of qgen config keys for the qgen-ref contender")
    p.add_argument("--hf-optim", default="", help="HF `optim` (default: HF's own default, adamw_torch_fused)")
    p.add_argument("--profile", type=int, default=0, help="cProfile each run; print its top N functions by own time")
    p.add_argument("--spec", default="", help=argparse.SUPPRESS)  # a whole qgen config (bench/real_size.py)
    p.add_argument("--worker", default="", help=argparse.SUPPRESS)
    p.add_argument("--work", default="", help=argparse.SUPPRESS)
    p.add_argument("--kind", default="", help=argparse.SUPPRESS)
    p.add_argument("--train", default="", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        return worker(args)

    work = Path(tempfile.mkdtemp(prefix="qgen-cmp-"))
    try:
        model_dir, kind, train, real = prepare(args, work)
        names = [n for n in args.only.split(",") if n]
        times: dict[str, list[dict]] = {n: [] for n in names}
        load0 = os.getloadavg()
        print(f"{args.model}: {model_dir}, {kind}, {train}, real tokens per epoch {real:,}, batch {BATCH}, "
              f"rounds {args.rounds}, torch threads default, load average at start {load0[0]:.2f}", flush=True)
        for r in range(args.rounds):
            for n in names:
                cmd = [sys.executable, __file__, "--worker", n, "--work", str(work), "--kind", kind, "--train", train,
                       "--model-dir", model_dir, "--qgen-extra", args.qgen_extra, "--ref-extra", args.ref_extra,
                       "--hf-optim", args.hf_optim, "--profile", str(args.profile)]
                res = subprocess.run(cmd, capture_output=True, text=True)
                if res.returncode:
                    print(res.stdout[-2000:], res.stderr[-4000:], file=sys.stderr)
                    return 1
                m = json.loads(res.stdout.strip().splitlines()[-1])
                if args.profile:
                    print(f"--- profile: {n}\n" + res.stderr[res.stderr.find("Ordered by"):], flush=True)
                times[n].append(m)
                print(f"  round {r + 1} {n:9s} start-up {m['startup']:6.1f} s  loop {m['loop']:7.1f} s  "
                      f"{real / m['loop']:8.0f} tok/s  steps {m['steps']}  peak RSS {m['rss_mib']:6.0f} MiB  "
                      f"load {os.getloadavg()[0]:.2f}", flush=True)
        base = statistics.median(m["loop"] for m in times["qgen" if "qgen" in names else names[0]])
        print(f"summary (median loop over {args.rounds} rounds; ratio = qgen speed / contender speed):")
        for n in names:
            loop = statistics.median(m["loop"] for m in times[n])
            start = statistics.median(m["startup"] for m in times[n])
            rss = max(m["rss_mib"] for m in times[n])
            print(f"  {n:9s} loop {loop:7.1f} s  {real / loop:8.0f} tok/s  qgen is {loop / base:5.2f}x  "
                  f"start-up {start:5.1f} s  peak RSS {rss:6.0f} MiB")
        rounds = [{n: times[n][r]["loop"] for n in names} for r in range(args.rounds)]
        if "qgen" in names and len(names) > 1:  # per round: the pairs ran back to back, so their ratio is steadier than medians
            print("  per-round ratios (qgen speed / contender speed): " + "; ".join(
                ", ".join(f"{n} {t[n] / t['qgen']:.2f}x" for n in names if n != "qgen") for t in rounds))
        print(f"  load average at end {os.getloadavg()[0]:.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
