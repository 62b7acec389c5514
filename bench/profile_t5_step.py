"""torch.profiler over T5 training steps on real JSQuAD AQG batches: where a step's time goes, operator by operator.

    OMP_NUM_THREADS=2 .venv/bin/python bench/profile_t5_step.py                      # as qgen trains (gap dropout)
    OMP_NUM_THREADS=2 .venv/bin/python bench/profile_t5_step.py --no-fast-dropout    # torch's dropout, SDPA attention

The first 1,000 JSQuAD-valid AQG rows (as bench/compare_hf.py), encoded with qgen's sequence format, sorted by length and cut
into batches of 16; six batches spread over the lengths each run one step (forward, loss, backward, fused AdamW)
after two warm-up steps. Prints the wall time of the six steps and the operators by own CPU time.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
from torch.profiler import ProfilerActivity, profile  # noqa: E402

from qgen.cli.parser import reports_input_errors  # noqa: E402
from qgen.data.jsquad import convert  # noqa: E402
from qgen.data.squad import read_squad  # noqa: E402
from qgen.models.formats.seq2seq import Seq2SeqFormat  # noqa: E402
from qgen.models.loading import load_model, load_tokenizer  # noqa: E402
from qgen.models.padding import pad_rows  # noqa: E402
from qgen.training.trainable_model import use_fast_dropout  # noqa: E402

DATA = Path(os.environ.get("QGEN_DATA_DIR", REPO.parent / "shared" / "data"))
MODEL = REPO / "qgen" / "models" / "pretrained" / "qgen-small-ja"


def batches(model_dir: str, rows: int) -> list[tuple[torch.Tensor, ...]]:
    questions, _ = read_squad(DATA / "jglue" / "jsquad-v1.3" / "valid-v1.3.json")
    sequence_format = Seq2SeqFormat(load_tokenizer(model_dir), max_source_len=512, max_target_len=64)
    feats = sorted((sequence_format.encode(e) for e in convert(questions, "aqg")[:rows]), key=lambda f: len(f["input_ids"]))
    groups = [feats[i:i + 16] for i in range(0, len(feats), 16)][3::10]
    out = []
    for group in groups:
        ids, mask = pad_rows([f["input_ids"] for f in group], 0)
        labels, _ = pad_rows([f["labels"] for f in group], -100)
        out.append((ids, mask, labels))
    return out


@reports_input_errors
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model-dir", default=str(MODEL))
    p.add_argument("--rows", type=int, default=1000)
    p.add_argument("--no-fast-dropout", dest="fast", action="store_false")
    p.add_argument("--top", type=int, default=15)
    args = p.parse_args(argv)
    steps = batches(args.model_dir, args.rows)
    model = load_model(args.model_dir, "seq2seq")
    if args.fast:
        use_fast_dropout(model)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)

    def step(ids, mask, labels):
        model(input_ids=ids, attention_mask=mask, labels=labels).loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    for batch in steps[:2]:
        step(*batch)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        started = time.perf_counter()
        for batch in steps:
            step(*batch)
        seconds = time.perf_counter() - started
    print(f"{'gap dropout + qgen T5 attention' if args.fast else 'torch dropout + SDPA'}: {len(steps)} steps "
          f"(source lengths {[b[0].shape[1] for b in steps]}) in {seconds:.2f} s under the profiler")
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
