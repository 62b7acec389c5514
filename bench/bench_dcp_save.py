"""Saving `last/` under `--fsdp` on 2 ranks: the full-state gather (rank 0 collects the whole model and AdamW state,
then writes safetensors + torch.save) vs torch.distributed.checkpoint (each rank writes its own shard), on a model of
open-calm-medium's shape (GPT-NeoX: hidden 1024, 24 layers, 16 heads, vocab 52096, 2048 positions; ~405M parameters,
randomly initialised from a local config: nothing is downloaded).

Each method runs in its own `torchrun --nproc_per_node 2` launch (gloo on the CPU, FSDP2 over the two ranks): set up,
one optimiser step on a short batch (so its state exists: AdamW 2 fp32 tensors per parameter, SGD with momentum 1), then `--saves` saves
with qgen's own code paths (qgen.training.distributed: fsdp.full_state_dict / full_optimizer_state + the atomic
write rank 0 does, or sharded.save). Rank 0's resident set size is sampled every 5 ms from /proc/self/status.
Usage:

    .venv/bin/python bench/bench_dcp_save.py                      # both methods, markdown table on stdout
    .venv/bin/python bench/bench_dcp_save.py --layers 4           # a smaller model, same shape otherwise
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

METHODS = ("gather", "dcp")


class RssSampler:
    """Peak VmRSS (MB) of this process while running."""

    def __init__(self, period_s: float = 0.005):
        self.period_s, self.peak, self._stop = period_s, 0.0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def now() -> float:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.now())
            time.sleep(self.period_s)

    def __enter__(self) -> RssSampler:
        self.peak = self.now()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.now())


def build(layers: int):
    import torch
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

    config = GPTNeoXConfig(hidden_size=1024, num_hidden_layers=layers, num_attention_heads=16,
                           intermediate_size=4096, vocab_size=52096, max_position_embeddings=2048,
                           rotary_pct=1.0, use_parallel_residual=False, tie_word_embeddings=False)
    torch.manual_seed(0)
    return GPTNeoXForCausalLM(config)


def worker(args) -> None:
    """One rank of one launch (under torchrun)."""
    import torch

    from qgen.core.files import atomic_dir
    from qgen.training.distributed import ddp, fsdp, sharded

    info = ddp.init(timeout_s=3600)
    model = ddp.wrap(build(args.layers), info, fsdp=True)
    params = sum(p.numel() for p in model.parameters())  # a DTensor counts its whole (global) size
    optimizer = (torch.optim.AdamW(model.parameters(), lr=1e-4) if args.optimizer == "adamw"
                 else torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9))
    ids = torch.randint(0, 52096, (1, 16))
    model(input_ids=ids, labels=ids).loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    out = Path(args.out)
    times, before, peak = [], RssSampler.now(), 0.0
    raw = ddp.unwrap(model)
    for _ in range(args.saves):
        ddp.barrier(info)
        t = time.perf_counter()
        with RssSampler() as rss:
            if args.method == "gather":  # what Run.save did for last/ under --fsdp before DCP
                weights = fsdp.full_state_dict(model)
                optim = fsdp.full_optimizer_state(model, optimizer)
                if info.is_main:
                    with atomic_dir(out / "last") as tmp:
                        raw.save_pretrained(tmp, state_dict=weights, safe_serialization=True)
                        torch.save({"optimizer": optim}, tmp / "trainer_state.pt")
                del weights, optim
                ddp.barrier(info)
            else:
                sharded.save(out / "last", model, optimizer, lambda tmp: raw.config.save_pretrained(tmp), info)
                ddp.barrier(info)
        times.append(time.perf_counter() - t)
        peak = max(peak, rss.peak)
    if info.is_main:
        size = sum(f.stat().st_size for f in (out / "last").rglob("*") if f.is_file())
        print("RESULT " + json.dumps({"method": args.method, "params": params, "save_s": times, "rss_before_mb": before,
                                      "rss_peak_mb": peak, "checkpoint_mb": size / 2**20}), flush=True)
    ddp.cleanup()


def launch(method: str, args) -> dict:
    with tempfile.TemporaryDirectory(prefix=f"bench-dcp-{method}-", dir=args.tmp) as out:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", __file__,
               "--worker", "--method", method, "--out", out, "--layers", str(args.layers), "--saves", str(args.saves),
               "--optimizer", args.optimizer]
        env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
        if proc.returncode != 0 or not lines:
            sys.exit(f"error: {method} run failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
        return json.loads(lines[-1].removeprefix("RESULT "))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--layers", type=int, default=24)
    p.add_argument("--saves", type=int, default=2, help="saves per launch (the table shows each)")
    p.add_argument("--threads", type=int, default=1, help="OMP_NUM_THREADS per rank")
    p.add_argument("--optimizer", choices=("adamw", "sgd"), default="adamw",
                   help="adamw: 2 state tensors per parameter; sgd (momentum): 1, for a machine short of memory")
    p.add_argument("--tmp", default=None, help="where the checkpoints are written (default: the system temp dir)")
    p.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--method", choices=METHODS, help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        return worker(args)
    load_before = os.getloadavg()[0]
    rows = [launch(m, args) for m in args.methods]
    print(f"GPT-NeoX, {rows[0]['params'] / 1e6:.0f}M parameters, 2 ranks (gloo, FSDP2), {args.optimizer} state, "
          f"OMP_NUM_THREADS={args.threads}; {os.cpu_count()} CPUs, load average {load_before:.1f} before, "
          f"{os.getloadavg()[0]:.1f} after\n")
    print("| method | save time (s), each save | rank 0 RSS before save (MB) | rank 0 peak RSS while saving (MB) | "
          "checkpoint size (MB) |\n| --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['method']} | {', '.join(f'{t:.1f}' for t in r['save_s'])} | {r['rss_before_mb']:.0f} | "
              f"{r['rss_peak_mb']:.0f} | {r['checkpoint_mb']:.0f} |")


if __name__ == "__main__":
    main()
