"""Batched generation over a loaded checkpoint, inputs built exactly as training built them.

Sources are tokenised one by one (so a source's ids never depend on its batch), sorted by length so a batch carries
little padding, generated batch by batch and returned in the caller's order. Seq2seq sources are right-padded (the
encoder masks padding); causal prompts are left-padded so every prompt ends where generation starts, and only the
new tokens are decoded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import torch

from qgen.core.console import progress as progress_bar
from qgen.core.text import cut_left
from qgen.data.examples import Example
from qgen.inference.bad_words import SubstringBanProcessor, bad_words_ids, contains_bad, token_texts, variants
from qgen.inference.decoding import GenerationSettings  # the defaults live in qgen.inference.decoding
from qgen.inference.loader import InferenceModel
from qgen.models.formats.seq2seq import Seq2SeqFormat
from qgen.models.formats.sequence import answer_cuts
from qgen.models.loading import check_positions
from qgen.models.padding import pad_rows


@dataclass
class Output:
    """The candidates generated for one input."""

    texts: list[str]  # num_return_sequences candidates, best first
    token_ids: list[list[int]] = field(default_factory=list)  # generated ids of each candidate (padding removed)


class Generator:
    """Generate for many inputs with one loaded model."""

    def __init__(self, im: InferenceModel):
        self.im = im
        self.tokenizer = im.tokenizer
        self.pad_id = self.tokenizer.pad_token_id
        self._token_texts: list | None = None  # what each id decodes to, for bad words; built on first use

    # ---- inputs -------------------------------------------------------------------------------------------------
    def encode(self, ex: Example, max_new_tokens: int = 64) -> list[int]:
        """Input ids as training built them: seq2seq source truncated to max_source_len; causal prompt (template,
        BOS) cut from the left so prompt + new tokens fit in max_len."""
        sequence_format = self.im.format
        if isinstance(sequence_format, Seq2SeqFormat):
            return self.tokenizer(sequence_format.prompt(ex), truncation=True,
                                  max_length=sequence_format.max_source_len)["input_ids"]
        bos, room = sequence_format.bos, sequence_format.max_len - max_new_tokens
        return cut_left(sequence_format.encode_prompt(ex), bos, max(room, len(bos) + 1))

    def answer_cuts(self, examples: Sequence[Example], max_new_tokens: int = 64) -> list[int]:
        """Indices of the examples whose `<hl>` answer the saved max_source_len cuts off (the model would ask about
        an answer it does not see); see qgen.models.formats.sequence.answer_cuts."""
        return answer_cuts(self.im.format, examples, [self.encode(ex, max_new_tokens) for ex in examples])

    # ---- generation ---------------------------------------------------------------------------------------------
    def generate_ids(self, batch: list[list[int]], settings: GenerationSettings,
                     bad_words: Sequence[str] = ()) -> list[list[list[int]]]:
        """Generated ids for one batch of encoded inputs: [input][candidate] -> ids, padding/EOS removed."""
        model = self.im.model
        input_ids, mask = pad_rows(batch, self.pad_id, left=self.im.kind == "causal")
        input_ids, mask = input_ids.to(self.im.device), mask.to(self.im.device)
        kw = settings.generate_kwargs()
        if bad_words:
            bad = variants(bad_words, self.im.lang)
            ids = bad_words_ids(self.tokenizer, bad)
            if ids:
                kw["bad_words_ids"] = ids
            prompt_len = input_ids.shape[1] if self.im.kind == "causal" else 0
            vocab = model.get_output_embeddings().weight.shape[0]
            if self._token_texts is None or len(self._token_texts) != vocab:
                self._token_texts = token_texts(self.tokenizer, vocab)
            from transformers import LogitsProcessorList  # transformers.generation pulls in peft and bitsandbytes

            ban = SubstringBanProcessor(self.tokenizer, bad, vocab, prompt_len, self._token_texts)
            kw["logits_processor"] = LogitsProcessorList([ban])
        if settings.seed is not None:
            from transformers import set_seed  # as above

            set_seed(settings.seed)
        with torch.inference_mode():
            out = model.generate(input_ids=input_ids, attention_mask=mask, pad_token_id=self.pad_id, **kw)
        if self.im.kind == "causal":
            out = out[:, input_ids.shape[1]:]
        stop = set(_as_list(model.generation_config.eos_token_id)) | {self.pad_id}
        start = model.generation_config.decoder_start_token_id if self.im.kind == "seq2seq" else None
        result: list[list[list[int]]] = []
        k = settings.num_return_sequences
        rows = out.tolist()
        for i in range(len(batch)):
            cands = []
            for row in rows[i * k:(i + 1) * k]:
                if start is not None and row and row[0] == start:
                    row = row[1:]
                end = next((j for j, t in enumerate(row) if t in stop), len(row))
                cands.append(row[:end])
            result.append(cands)
        return result

    def decode(self, ids: list[int]) -> str:
        """As the text2text pipeline decodes: special tokens dropped, spaces left as they are."""
        return self.tokenizer.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=False)

    def generate(self, examples: Sequence[Example], settings: GenerationSettings | None = None, batch_size: int = 32,
                 bad_words: Sequence[str] = (), progress: bool = False) -> list[Output]:
        """One Output per example, in the given order; batches are formed longest-first."""
        settings = settings or GenerationSettings()
        settings.check()
        sequence_format, config = self.im.format, self.im.model.config
        if isinstance(sequence_format, Seq2SeqFormat):  # the decoder's positions: new tokens after the start token
            check_positions(config, self.im.path, {"max_source_len": sequence_format.max_source_len,
                                                   "--max-new-tokens": settings.max_new_tokens + 1})
        else:  # the prompt is cut so prompt + new tokens fit in max_len, keeping BOS and one token at least
            check_positions(config, self.im.path, {"max_len": sequence_format.max_len, "--max-new-tokens":
                                                   settings.max_new_tokens + len(sequence_format.bos) + 1})
        encoded = [self.encode(ex, settings.max_new_tokens) for ex in examples]
        order = sorted(range(len(encoded)), key=lambda i: -len(encoded[i]))
        results: list[Output | None] = [None] * len(encoded)
        bar = None
        if progress:
            bar = progress_bar(len(encoded), "generating", "ex")
        for b in range(0, len(order), batch_size):
            idx = order[b:b + batch_size]
            cands = self.generate_ids([encoded[i] for i in idx], settings, bad_words)
            for i, c in zip(idx, cands):
                results[i] = Output([self.decode(ids) for ids in c], c)
            if bar is not None:
                bar.update(len(idx))
        if bar is not None:
            bar.close()
        return results  # type: ignore[return-value]

    def generate_avoiding(self, ex: Example, settings: GenerationSettings, bad_words: Sequence[str],
                          max_beams: int = 32) -> tuple[list[str], list[str]]:
        """Up to num_return_sequences outputs free of every bad word, best first, and notes on what was done.

        Banned tokens are blocked while decoding; if a decoded candidate still contains a bad word (a spelling the
        blocking could not see), the search is widened (more beams, or more samples) and the candidates re-ranked.
        Returns fewer outputs (possibly none) only when no wider search finds them; the notes say so.
        """
        want = settings.num_return_sequences
        bad = variants(bad_words, self.im.lang)
        notes: list[str] = []
        kept: list[str] = []
        current = settings
        while True:
            out = self.generate([ex], current, batch_size=1, bad_words=bad_words)[0]
            for text in out.texts:
                hit = contains_bad(text, bad, self.im.lang)
                if hit is not None:
                    notes.append(f"dropped a candidate containing {hit!r}: {text!r}")
                elif text not in kept:
                    kept.append(text)
            if len(kept) >= want:
                return kept[:want], notes
            beams = max(current.beams, current.num_return_sequences) * 2
            if beams > max_beams:
                notes.append(f"only {len(kept)} of {want} outputs avoid the bad words (searched up to "
                             f"{current.num_return_sequences} candidates)")
                return kept, notes
            current = replace(current, num_beams=1 if current.do_sample else beams, num_return_sequences=beams)
            notes.append(f"widening the search to {beams} candidates")


def _as_list(x: int | list[int] | tuple[int, ...] | None) -> list[int]:
    """A token id setting (one id, several or None) as a list."""
    if x is None:
        return []
    return list(x) if isinstance(x, (list, tuple)) else [x]
