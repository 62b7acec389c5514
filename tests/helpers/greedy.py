"""Checking a greedy decode against another computation of the same function — never by comparing argmax chains.

Two computations of one function (a merged vs an unmerged LoRA, fp16-stored vs fp32 weights, another attention
kernel, a padded batch vs one input) agree only up to float rounding, and on a nearly untrained tiny model two logits
can be closer than that: one flipped argmax then changes every later token, on one machine and not another. So a
greedy output of computation A is checked under computation B by teacher forcing: at each step, fed A's own prefix,
the token A chose must be B's argmax or within `tol` of B's top logit. A real fault (an adapter not applied, wrong
padding or position ids) moves logits by far more than the tolerances used, and fails; rounding cannot.
"""

from __future__ import annotations

import torch

# A padded batch against one input at a time: the same weights, masked positions add exact zeros, only the GEMMs'
# blocking differs. Measured on the tests' tiny GPT-2 / Llama (last-position logits, |logit| ~5): <= 4e-6 apart.
# 1e-4 leaves 25x room; wrong padding or position ids move logits by orders of magnitude more.
BATCH_TOL = 1e-4
# Another attention kernel for the same function (qgen.models.attention vs transformers' eager / SDPA): measured on the
# tests' tiny T5 and GPT-2, teacher-forced logits (|logit| up to ~5) <= 1e-6 apart; the same 1e-4.
KERNEL_TOL = 1e-4


def teacher_forced_logits(model, prompt: list[int], generated: list[int], *, seq2seq: bool) -> torch.Tensor:
    """[len(generated), vocab]: the logits `model` gives for each generated position, fed the tokens before it."""
    with torch.no_grad():
        if seq2seq:
            start = model.config.decoder_start_token_id
            decoder = torch.tensor([[start, *generated[:-1]]])
            return model(input_ids=torch.tensor([prompt]), decoder_input_ids=decoder).logits[0].float()
        full = torch.tensor([[*prompt, *generated]])
        return model(input_ids=full).logits[0, len(prompt) - 1:-1].float()


def greedy_gaps(model, prompt: list[int], generated: list[int], *, seq2seq: bool, stop_ids=(),
                max_new_tokens: int | None = None) -> torch.Tensor:
    """Per generated token: `model`'s top logit minus the logit of the token chosen (0 where it is the argmax). With
    `stop_ids`, a decode that ended before `max_new_tokens` is also checked at its end: a stop token was the choice
    there (the best of them counts: a decode stops on EOS or padding and strips either)."""
    stopped = bool(stop_ids) and max_new_tokens is not None and len(generated) < max_new_tokens
    forced = [*generated, next(iter(stop_ids))] if stopped else list(generated)
    if not forced:
        return torch.zeros(0)
    logits = teacher_forced_logits(model, prompt, forced, seq2seq=seq2seq)
    chosen = logits[:len(generated)].gather(-1, torch.tensor(generated, dtype=torch.long)[:, None])[:, 0]
    if stopped:
        chosen = torch.cat([chosen, logits[-1, list(stop_ids)].max()[None]])
    return logits.max(-1).values - chosen


def stop_ids(model, tokenizer) -> tuple[int, ...]:
    """The tokens a decode ends on: the model's EOS id(s) and the padding id."""
    eos = model.generation_config.eos_token_id
    eos = eos if isinstance(eos, list) else [eos]
    return tuple(dict.fromkeys(t for t in (*eos, tokenizer.pad_token_id) if t is not None))


def assert_greedy_under(model, prompt: list[int], generated: list[int], *, seq2seq: bool, tol: float, stop_ids=(),
                        max_new_tokens: int | None = None) -> None:
    """Every token of `generated` (and its stop) is `model`'s greedy choice given the same prefix, up to `tol`."""
    gaps = greedy_gaps(model, prompt, generated, seq2seq=seq2seq, stop_ids=stop_ids, max_new_tokens=max_new_tokens)
    worst = float(gaps.max()) if len(gaps) else 0.0
    assert worst <= tol, f"a generated token is {worst:.3g} below the top logit (tolerance {tol:g}): {gaps.tolist()}"


def until_stop(ids: list[int], stops) -> list[int]:
    """`ids` up to (without) the first stop token: what a decode returns as its text's tokens."""
    return ids[: next((j for j, t in enumerate(ids) if t in set(stops)), len(ids))]
