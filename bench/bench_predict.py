"""Throughput of predict.py's batched generation against the text2text pipeline run one example at a time.

    .venv/bin/python bench/bench_predict.py                       # tiny T5, 200 real JSQuAD AQG sources, greedy
    .venv/bin/python bench/bench_predict.py --num-beams 4 --model runs/aqg/best

The pipeline side is `transformers.pipeline("text2text-generation")` when the installed transformers has it (v4).
Transformers v5 removed that task (its `text-generation` pipeline only accepts decoder-only models), so there the
pipeline side is the same steps done by hand (tests/unit/cli/test_predict.py `text2text_pipeline`): each source tokenised alone,
`model.generate`, decoded with skip_special_tokens. Both sides must produce identical texts; the script says how many
differ. Without --model the tiny T5 of the inference tests (tests/helpers/inference_models.py) is built in --workdir.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def one_by_one(model, tokenizer, sources, **gen) -> list[str]:
    import transformers

    if "text2text-generation" in getattr(transformers.pipelines, "SUPPORTED_TASKS", {}):
        pipe = transformers.pipeline("text2text-generation", model=model, tokenizer=tokenizer, device="cpu")
        return [pipe(s, **gen)[0]["generated_text"] for s in sources]
    from test_predict import text2text_pipeline

    return [tokenizer.decode(text2text_pipeline(model, tokenizer, s, **gen)[0], skip_special_tokens=True,
                             clean_up_tokenization_spaces=False) for s in sources]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--model", default=None, help="checkpoint dir (default: build the tests' tiny T5)")
    ap.add_argument("--data-dir", type=Path, default=Path(os.environ.get("QGEN_DATA_DIR", REPO.parent / "shared" / "data")))
    ap.add_argument("--workdir", type=Path, default=REPO / "runs" / "bench-predict")
    ap.add_argument("--n", type=int, default=200, help="JSQuAD AQG sources")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--num-beams", type=int, default=1)
    ap.add_argument("--max-new-tokens", type=int, default=32)
    ap.add_argument("--repeat", type=int, default=3, help="timed rounds, the two sides alternating; best of each kept")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    args = ap.parse_args()

    import torch
    import transformers
    from helpers import inference_models

    from qgen.inference.generation import GenerationSettings, Generator
    from qgen.inference.loader import load_inference_model

    if args.threads:
        torch.set_num_threads(args.threads)
    jsquad = args.data_dir / "jglue" / "jsquad-v1.3" / "valid-v1.3.json"
    model_dir = args.model or inference_models.build(args.workdir, jsquad)["t5"]
    examples = inference_models.jsquad_examples(jsquad, "aqg", args.n)
    g = Generator(load_inference_model(str(model_dir)))
    if g.im.kind != "seq2seq":
        raise SystemExit("the text2text pipeline comparison needs a seq2seq model")
    # no n-gram blocking: the one-by-one reference below is plain model.generate with these two settings
    settings = GenerationSettings(num_beams=args.num_beams, max_new_tokens=args.max_new_tokens, no_repeat_ngram_size=0)
    gen = {"num_beams": args.num_beams, "max_new_tokens": args.max_new_tokens, "do_sample": False}
    sources = [e.source for e in examples]
    print(f"transformers {transformers.__version__}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{len(examples)} sources, model {model_dir}, beams {args.num_beams}, max_new_tokens {args.max_new_tokens}")

    one_by_one(g.im.model, g.tokenizer, sources[:2], **gen)  # warm-up both paths
    g.generate(examples[:2], settings)
    t_ours = t_ref = float("inf")
    for _ in range(args.repeat):  # alternate, so a burst of load on the shared machine hits both sides alike
        t = time.perf_counter()
        ours = [o.texts[0] for o in g.generate(examples, settings, batch_size=args.batch_size)]
        t_ours = min(t_ours, time.perf_counter() - t)
        t = time.perf_counter()
        ref = one_by_one(g.im.model, g.tokenizer, sources, **gen)
        t_ref = min(t_ref, time.perf_counter() - t)

    differ = sum(a != b for a, b in zip(ours, ref))
    print(f"best of {args.repeat} rounds")
    print(f"predict (batch {args.batch_size}, length-sorted): {t_ours:.2f} s, {len(sources) / t_ours:.1f} ex/s")
    print(f"pipeline one by one:                 {t_ref:.2f} s, {len(sources) / t_ref:.1f} ex/s")
    print(f"speed-up {t_ref / t_ours:.1f}x; outputs differing: {differ} of {len(sources)}")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
