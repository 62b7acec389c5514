"""The flags predict.py, generate.py and their `--task summarize|instruct` share: the model, its decoding, the context
window and the span reader — one definition each, read back into the library's settings here."""

from __future__ import annotations

import argparse
from argparse import Namespace
from typing import TYPE_CHECKING

from qgen.cli.dataclass_args import add_dataclass_args, from_args
from qgen.cli.parser import add_threads_arg
from qgen.core.constants import DTYPE_NAMES
from qgen.core.errors import QgenInputError
from qgen.inference.decoding import GenerationSettings, SpanSettings  # no torch: --help and flag errors stay fast
from qgen.models.input_spec import CONTEXT_WINDOWS

if TYPE_CHECKING:
    from qgen.inference.loader import InferenceModel
    from qgen.inference.span_reader import SpanReader

ArgumentContainer = argparse._ActionsContainer  # a parser or an argument group: what add_argument is called on


def add_model_args(p: argparse.ArgumentParser) -> None:
    """The model-loading flags (checkpoint, device, dtype, language, threads), the same in every generating command."""
    g = p.add_argument_group("model")
    g.add_argument("--model", required=True, help="checkpoint dir (runs/x/best), LoRA adapter dir, or hub name")
    g.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N | auto")
    g.add_argument("--dtype", default="auto", choices=DTYPE_NAMES,
                   help="auto = fp32 on CPU, bf16 (else fp16) on GPU")
    g.add_argument("--lang", default=None, choices=("ja", "ko", "en"), help="override the saved normalisation language")
    g.add_argument("--verbose", action="store_true", help="also show transformers' loading bars and warnings")
    g.add_argument("--trust-remote-code", action="store_true", help="run the model's own Python code (its auto_map); "
                   "only for code you trust — never taken from the checkpoint's files")
    add_threads_arg(g)


def add_context_window_arg(p: ArgumentContainer) -> None:
    """`--context-window`: by default the one saved with the model, so predict.py and generate.py cut alike."""
    p.add_argument("--context-window", "--context_window", default=None, choices=CONTEXT_WINDOWS,
                   help="aqg / aqg_hl: the context the model reads — sentence cuts a paragraph to the answer's "
                        "sentence (default: the model's own, context_window in its input_spec.json)")


def add_generation_args(p: argparse.ArgumentParser) -> None:
    """Model and decoding flags: one decoding flag per GenerationSettings field (`--num-beams`, also `--num_beams`),
    its default taken from there, so every generating command decodes alike."""
    add_model_args(p)
    add_dataclass_args(p, GenerationSettings, title="decoding (the same defaults in predict.py and generate.py)",
                       aliases=True, metavars={int: "N", float: "X"})


def settings_from_args(args: Namespace) -> GenerationSettings:
    """The decoding settings the flags ask for, checked by GenerationSettings (a bad combination: QgenInputError)."""
    try:
        return from_args(GenerationSettings, args)
    except ValueError as e:
        raise QgenInputError(str(e), field="decoding options") from None


def add_span_args(p: argparse.ArgumentParser, inputs: str) -> None:
    """`--answer-spans` and the span reader's flags (one per SpanSettings field); `inputs` says which inputs it reads
    in this command's help."""
    p.add_argument("--answer-spans", "--answer_spans", action="store_true",
                   help="QA: answer with the span of the paragraph the model scores best (its QA head and, weighted, "
                        f"how likely it finds the question given the span), not by generating; {inputs} and a "
                        "seq2seq checkpoint")
    add_dataclass_args(p, SpanSettings, title="span reader (with --answer-spans)", aliases=True,
                       metavars={int: "N", float: "X"})


def span_reader_from_args(im: InferenceModel, args: Namespace) -> SpanReader:
    """The span reader the flags ask for; a causal checkpoint or a bad setting is a QgenInputError."""
    from qgen.inference.span_reader import SpanReader  # torch: loaded only when answering

    if im.kind != "seq2seq":
        raise QgenInputError("the span reader needs a seq2seq (T5-style) checkpoint", field="--answer-spans")
    try:
        return SpanReader(im, from_args(SpanSettings, args), batch_size=getattr(args, "batch_size", 64))
    except ValueError as e:
        raise QgenInputError(str(e), field="span reader options") from None
