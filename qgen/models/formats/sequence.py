"""A sequence format: how one kind of model (seq2seq or causal) turns an example into token ids, labels and logits.

Training, inference and the quiz build theirs with `make_format` from the same `InputSpec`, so a checkpoint is read
with the lengths and prompt format it was trained with. ("Adapter" in qgen means a LoRA adapter only.)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal, Protocol, overload

from qgen.data.examples import Example
from qgen.models.input_spec import InputSpec

if TYPE_CHECKING:  # torch: only when a format is made
    import torch

    from qgen.models.formats.causal import CausalFormat
    from qgen.models.formats.seq2seq import Seq2SeqFormat


class SequenceFormat(Protocol):
    """What the loop, the generator and the quiz ask of a format; `Seq2SeqFormat` and `CausalFormat` implement it."""

    kind: str  # "seq2seq" | "causal"
    tokenizer: Any

    def prompt(self, ex: Example) -> str:
        """The text the model is given before its target."""
        ...

    def encode(self, ex: Example) -> dict:
        """Token ids of one example: {"input_ids", "labels"} (IGNORE where no loss)."""
        ...

    @property
    def length_limit(self) -> tuple[str, int]:
        """The setting that cuts a prompt, and its value (named in the warning about cut answers)."""
        ...

    def kept_prompt(self, feature: dict) -> list[int]:
        """The prompt ids an encoded example kept."""
        ...

    def answer_cut(self, ex: Example, kept: list[int]) -> bool:
        """Whether the length limit cut the `<hl>` answer out of the prompt ids `kept`."""
        ...

    def collate(self, features: list[dict]) -> dict:
        """Encoded examples padded into one batch of tensors."""
        ...

    def logits(self, model: torch.nn.Module, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """The full forward: (logits, labels) aligned position by position."""
        ...


@overload
def make_format(kind: Literal["causal"], tokenizer: Any, spec: InputSpec,
                train_on_inputs: bool = False) -> CausalFormat: ...
@overload
def make_format(kind: Literal["seq2seq"], tokenizer: Any, spec: InputSpec,
                train_on_inputs: bool = False) -> Seq2SeqFormat: ...
@overload
def make_format(kind: str, tokenizer: Any, spec: InputSpec,
                train_on_inputs: bool = False) -> Seq2SeqFormat | CausalFormat: ...
def make_format(kind: str, tokenizer: Any, spec: InputSpec,
                train_on_inputs: bool = False) -> Seq2SeqFormat | CausalFormat:
    """The format for a model `kind` with the lengths and prompt format of `spec` (training's or a checkpoint's);
    `train_on_inputs`: a causal format's loss also covers the prompt (training only)."""
    if kind == "seq2seq":
        from qgen.models.formats.seq2seq import Seq2SeqFormat  # torch: only when a format is made

        return Seq2SeqFormat(tokenizer, max_source_len=spec.max_source_len, max_target_len=spec.max_target_len)
    from qgen.models.formats.causal import CausalFormat  # torch, as above

    return CausalFormat(tokenizer, max_len=spec.max_len, prompt_format=spec.prompt_format,
                        train_on_inputs=train_on_inputs)


def answer_cuts(sequence_format: SequenceFormat, examples: Sequence[Example], prompts: list[list[int]]) -> list[int]:
    """Indices of the examples whose `<hl>` answer was cut off by the length limit (`prompts`: the source / prompt ids
    each kept; a seq2seq source is cut from the right, a causal prompt from the left)."""
    return [i for i, (ex, ids) in enumerate(zip(examples, prompts)) if sequence_format.answer_cut(ex, ids)]


def cut_note(examples: Sequence[Example], cuts: list[int], sequence_format: SequenceFormat, shown: int = 5) -> str:
    """`N of M records (3 (id a), 17 (id b), …) have their <hl> answer beyond max_source_len L tokens` (records
    numbered from 1 in their file's order; max_len for a causal model)."""
    first = ", ".join(f"{i + 1} (id {examples[i].id})" for i in cuts[:shown]) + (", …" if len(cuts) > shown else "")
    name, value = sequence_format.length_limit
    return f"{len(cuts)} of {len(examples)} records ({first}) have their <hl> answer beyond {name} {value} tokens"
