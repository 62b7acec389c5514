"""Peak CPU memory of a training step: full fine-tuning vs LoRA vs QLoRA (4/8-bit), with/without gradient checkpointing.

Each setting runs in its own process (a clean peak) on a randomly initialised Llama-architecture model big enough for
the differences to show (default ~46M parameters: hidden 512, 8 layers, seq 512, batch 4). Memory is the resident set
size sampled every 2 ms from /proc/self/status (RssAnon and the whole VmRSS): `load` after the model is prepared (freed heap trimmed, so buffers
used only while quantising do not count), `peak` during the steps; `weights` is the bytes of parameters and buffers.
Safetensors weights are memory-mapped: unquantised weights become anonymous memory when the optimiser first writes
them (full fine-tuning) and are otherwise shared file pages, not counted here.
Usage:

    .venv/bin/python bench/bench_memory.py                 # all settings, markdown table on stdout
    .venv/bin/python bench/bench_memory.py --seq-len 1024 --settings full lora lora+gc qlora4 qlora4+gc
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SETTINGS = {  # name -> (lora_r, quantization, gradient_checkpointing)
    "full": (0, "none", False),
    "full+gc": (0, "none", True),
    "lora": (8, "none", False),
    "lora+gc": (8, "none", True),
    "qlora8": (8, "8bit", False),
    "qlora4": (8, "4bit", False),
    "qlora4+gc": (8, "4bit", True),
}


def rss_mb() -> tuple[float, float]:
    """(RssAnon, whole RSS) in MB. RssAnon is tensors and heap; the whole RSS adds the pages of memory-mapped
    checkpoint files once touched (full/LoRA: the weights themselves; QLoRA: the fp32 file read while quantising)."""
    values = {}
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(("RssAnon:", "VmRSS:")):
                key, kb = line.split()[:2]
                values[key] = int(kb) / 1024
    return values["RssAnon:"], values["VmRSS:"]


class PeakSampler(threading.Thread):
    def __init__(self, interval=0.002):
        super().__init__(daemon=True)
        self.interval, self.peak, self.running = interval, rss_mb(), True

    def sample(self):
        self.peak = tuple(max(a, b) for a, b in zip(self.peak, rss_mb()))

    def run(self):
        while self.running:
            self.sample()
            time.sleep(self.interval)

    def stop(self) -> tuple[float, float]:
        self.running = False
        self.join()
        self.sample()
        return self.peak


def build_model(directory: Path, args) -> Path:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    if (directory / "config.json").is_file():
        return directory
    config = LlamaConfig(hidden_size=args.hidden, intermediate_size=args.hidden * 3, num_hidden_layers=args.layers,
                         num_attention_heads=args.hidden // 64, num_key_value_heads=args.hidden // 64,
                         vocab_size=args.vocab, max_position_embeddings=max(2048, args.seq_len))
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(directory)
    return directory


def measure(setting: str, model_dir: str, args) -> dict:
    """One setting, in this process: prepare, then time and sample memory over the training steps."""
    import torch

    from qgen.models import lora as qpeft
    from qgen.models.loading import load_model
    from qgen.training.config import TrainConfig

    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    r, quant, gc_on = SETTINGS[setting]
    cfg = TrainConfig()
    cfg.lora.lora_r, cfg.lora.quantization, cfg.model.gradient_checkpointing = r, quant, gc_on
    before = rss_mb()
    spec = cfg.lora_spec()
    model = qpeft.apply_peft(load_model(model_dir, "causal", **qpeft.quantization_kwargs(spec)), spec)
    model.train()
    weights = sum(t.numel() * t.element_size() for t in [*model.parameters(), *model.buffers()]) / 2**20
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    ids = torch.randint(10, args.vocab, (args.batch, args.seq_len))
    import ctypes
    import gc

    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)  # hand freed load-time buffers (fp32 weights before quantising) back
    load = rss_mb()
    sampler = PeakSampler()
    sampler.start()
    t0 = time.perf_counter()
    losses = []
    for _ in range(args.steps):
        out = model(input_ids=ids, labels=ids)
        out.loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        losses.append(out.loss.item())
    seconds = (time.perf_counter() - t0) / args.steps
    peak = sampler.stop()
    return {"setting": setting, "weights_mb": weights, "trainable": trainable, "anon_before_mb": before[0],
            "anon_load_mb": load[0], "anon_peak_mb": peak[0], "rss_load_mb": load[1], "rss_peak_mb": peak[1], "step_s": seconds, "loss_first": losses[0], "loss_last": losses[-1]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--settings", nargs="*", default=list(SETTINGS), choices=list(SETTINGS))
    p.add_argument("--hidden", type=int, default=512)
    p.add_argument("--layers", type=int, default=8)
    p.add_argument("--vocab", type=int, default=8000)
    p.add_argument("--seq-len", type=int, default=512)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--steps", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--model-dir", default=None, help="where the random model is built (default: a temp dir)")
    p.add_argument("--json", default=None, help="also write the rows as JSON here")
    p.add_argument("--_one", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args._one:  # child process: one setting, JSON on the last stdout line
        print(json.dumps(measure(args._one, args.model_dir, args)))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = build_model(Path(args.model_dir or Path(tmp) / "model"), args)
        rows = []
        for s in args.settings:
            cmd = [sys.executable, __file__, "--_one", s, "--model-dir", str(model_dir)] + [
                x for k in ("hidden", "layers", "vocab", "seq_len", "batch", "steps", "threads")
                for x in (f"--{k.replace('_', '-')}", str(getattr(args, k)))]
            env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
            if proc.returncode:
                print(f"{s}: failed\n{proc.stderr[-2000:]}", file=sys.stderr)
                continue
            rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    print(f"model: Llama hidden {args.hidden}, {args.layers} layers, vocab {args.vocab}; batch {args.batch} x seq "
          f"{args.seq_len}; {args.steps} steps; torch threads {args.threads}\n")
    print("| setting | trainable params | weights MB | RssAnon load / peak MB | RSS load / peak MB | step s |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r['setting']} | {r['trainable']:,} | {r['weights_mb']:.0f} | {r['anon_load_mb']:.0f} / "
              f"{r['anon_peak_mb']:.0f} | {r['rss_load_mb']:.0f} / {r['rss_peak_mb']:.0f} | {r['step_s']:.2f} |")
    if args.json:
        from qgen.core.files import write_json

        write_json(args.json, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
