"""GPT-2 with attention dropout (rinna's japanese-gpt2: 0.1 everywhere): a training step with torch's dropout and SDPA
against gap dropout and qgen's attention (`--fast-dropout`), alternating rounds in one process.

    OMP_NUM_THREADS=2 .venv/bin/python bench/bench_gpt2_dropout.py [--rounds 3]

A randomly initialised 4-layer, 256-wide GPT-2 (8k vocabulary, GPT-2's default dropouts of 0.1) on random batches of
16 × 160 tokens, loss over every position (the model's own `labels=` loss), fused AdamW; each round times 5 steps of
each model after 2 warm-up steps. Prints the median step time of each and the ratio.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import torch  # noqa: E402
from transformers import GPT2Config, GPT2LMHeadModel  # noqa: E402

from qgen.training.trainable_model import use_fast_dropout  # noqa: E402


def model(fast: bool) -> GPT2LMHeadModel:
    torch.manual_seed(0)
    m = GPT2LMHeadModel(GPT2Config(vocab_size=8000, n_embd=256, n_layer=4, n_head=8, n_positions=512,
                                   bos_token_id=0, eos_token_id=0))
    if fast:
        use_fast_dropout(m)
    return m.train()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    models = {"torch dropout + SDPA": model(False), "gap dropout + qgen attention": model(True)}
    optimizers = {k: torch.optim.AdamW(m.parameters(), fused=True) for k, m in models.items()}
    ids = torch.randint(0, 8000, (16, 160), generator=torch.Generator().manual_seed(1))

    def step(name):
        models[name](input_ids=ids, labels=ids).loss.backward()
        optimizers[name].step()
        optimizers[name].zero_grad(set_to_none=True)

    for name in models:
        step(name)
        step(name)
    times = {name: [] for name in models}
    for _ in range(args.rounds):
        for name in models:
            started = time.perf_counter()
            for _ in range(5):
                step(name)
            times[name].append((time.perf_counter() - started) / 5)
    base = statistics.median(times["torch dropout + SDPA"])
    for name, ts in times.items():
        print(f"{name:<30} {statistics.median(ts):6.3f} s/step (rounds {', '.join(f'{t:.3f}' for t in ts)})  "
              f"{base / statistics.median(ts):.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
