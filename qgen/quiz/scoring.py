"""Multiple-choice scoring of a causal LM: choice-token probability, choice log-likelihood, or parsed generation.

- `choice-token`: the next-token distribution after the prompt; a label's score is the log of the summed probability of
  every single-token spelling of it ("2", "▁2", "Ġ2", "２", "▁２" … whichever the vocabulary has), and the five
  scores are softmaxed over the labels only.
- `loglik` / `loglik-norm`: the sum of log p(token) of each choice's continuation after the prompt; `-norm` divides
  by the continuation's character count (lm-evaluation-harness `acc_norm`; both predictions are kept as `acc` and
  `acc_norm`). Probabilities are the softmax of the chosen scores over the choices. The continuation is the choice
  text (`--loglik-target text`) or the whole answer "N: text" (`answer`). Tokenisation (`--loglik-tokenization`):
  `apart` encodes the prompt (with the causal format's BOS) and the continuation separately, exactly as qgen trains a
  causal model, so it is right for a qgen checkpoint; `joint` is lm-evaluation-harness 0.4's split (see
  `harness_encode_pair`), what leaderboards report — with a dummy-prefix sentencepiece tokenizer the apart
  continuation starts with a "▁" token that the joint text never has, so the two give different numbers.
- `generate`: greedy decoding parsed as "N: text" (number, text, or both; see `parse_answer`); its probabilities are
  the choice-token ones of the first decoding step (the same forward pass).
Batches are right-padded; logits are read at each row's own positions, so padding never changes a score.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

import torch

from qgen.core.errors import QgenInputError
from qgen.data.quiz import QuizTemplate
from qgen.models.formats.causal import CausalFormat
from qgen.models.padding import pad_rows
from qgen.quiz.prompt import QuizItem, QuizPrompter
from qgen.quiz.tokenization import METHODS, TOKENIZATIONS, harness_encode_pair, label_token_ids

_ANSWER_RE = re.compile(r"^\s*(\d+)\s*(?:[:.)、,]\s*(.*))?$", re.S)


@dataclass
class Scored:
    """One item's scores: the choices' probabilities, the prediction and how it was reached."""

    probs: list[float]
    pred: int | None
    raw: str = ""
    scores: list[float] = field(default_factory=list)  # per-choice raw scores (log-probs, loglik sums …)
    prompt_tokens: int = 0
    cut: dict = field(default_factory=dict)
    prompt: str = ""  # the prompt text scored (BOS, when added as a token, is not part of it)
    extra: dict = field(default_factory=dict)  # loglik: pred_acc, pred_acc_norm, continuation_chars


def parse_answer(text: str, choices: list[str]) -> int | None:
    """The choice a generated answer names: a leading in-range number ("2", "2: …", "２．…") wins; otherwise a choice
    text equal to the answer (after NFKC), else the only choice text contained in it (the longest when one contains
    another). None when nothing matches."""
    line = unicodedata.normalize("NFKC", text).strip().split("\n", 1)[0].strip()
    m = _ANSWER_RE.match(line)
    if m and int(m.group(1)) < len(choices):
        return int(m.group(1))
    body = (m.group(2) or "").strip() if m else line
    norm = [unicodedata.normalize("NFKC", c).strip() for c in choices]
    for i, c in enumerate(norm):
        if c and c == body:
            return i
    found = [i for i, c in enumerate(norm) if c and c in body]
    found = [i for i in found if not any(j != i and norm[i] in norm[j] for j in found)]
    return found[0] if len(found) == 1 else None


class QuizScorer:
    """Scores quiz items with one causal model; `budget` for prompts is the context minus room for the answer."""

    def __init__(self, model: Any, tokenizer: Any, causal_format: CausalFormat, method: str = "choice-token", *,
                 prompt_style: str = "train", template: QuizTemplate | None = None, max_len: int = 512,
                 batch_size: int = 8, loglik_target: str = "text", max_new_tokens: int = 24,
                 loglik_tokenization: str = "apart", target_delimiter: str = "", add_bos_token: bool | None = None):
        """`loglik_tokenization`, `target_delimiter` (put before each continuation; the harness's default task
        setting is " ") and `add_bos_token` (joint only, the harness's model argument: None / True / False, see
        `harness_encode_pair`) shape loglik scoring."""
        if method not in METHODS:
            raise ValueError(f"unknown scoring {method!r}; choose from {METHODS}")
        if loglik_target not in ("text", "answer"):
            raise ValueError("loglik_target must be text or answer")
        if loglik_tokenization not in TOKENIZATIONS:
            raise ValueError(f"loglik_tokenization must be one of {TOKENIZATIONS}")
        self.loglik_tokenization, self.target_delimiter = loglik_tokenization, target_delimiter
        self.add_bos_token = add_bos_token
        self.model, self.tokenizer, self.method = model.eval(), tokenizer, method
        self.batch_size, self.loglik_target, self.max_new_tokens = batch_size, loglik_target, max_new_tokens
        self.template = template or QuizTemplate()
        self.max_len = max_len
        room = {"choice-token": 1, "generate": max_new_tokens}.get(method, 0)  # loglik: per item, see _budget
        self.prompter = QuizPrompter(causal_format, prompt_style, self.template, budget=max(8, max_len - room))
        self._label_ids: dict[tuple, list[list[int]]] = {}

    def label_ids(self, labels: list[str]) -> list[list[int]]:
        """Each label's single-token spellings (cached per label set)."""
        key = tuple(labels)
        if key not in self._label_ids:
            self._label_ids[key] = label_token_ids(self.tokenizer, labels)
        return self._label_ids[key]

    def _forward(self, rows: list[list[int]]) -> torch.Tensor:
        ids, mask = pad_rows(rows, self.tokenizer.pad_token_id)
        with torch.no_grad():
            return self.model(input_ids=ids.to(self.model.device), attention_mask=mask.to(self.model.device)).logits.float()

    def _check_labels(self, items: list[QuizItem]) -> None:
        """Before any forward pass: each item's labels are single tokens (an 11-choice quiz's "10" seldom is)."""
        for it in items:
            try:
                self.label_ids(it.labels)
            except ValueError as e:
                raise QgenInputError(f"{len(it.labels)} choices: {e}", path=it.file or None, record=it.id,
                                     field="input") from None

    def _label_logprobs(self, next_logits: torch.Tensor, labels: list[str]) -> torch.Tensor:
        logp = torch.log_softmax(next_logits.float(), dim=-1)
        return torch.stack([torch.logsumexp(logp[ids], dim=0) for ids in self.label_ids(labels)])

    def score(self, items: list[QuizItem], passages: list[list[dict]] | None = None, bar: Any = None) -> list[Scored]:
        """One Scored per item; `passages[i]` (may be empty) go into item i's `[参考]` block. `bar`: a progress bar
        (qgen.core.console.progress) advanced after each batch."""
        passages = passages or [[] for _ in items]
        if self.method == "choice-token":
            self._check_labels(items)
        built = [self.prompter.fit(it, ps, self._budget(it)) for it, ps in zip(items, passages)]
        out: list[Scored] = []
        for start in range(0, len(items), self.batch_size):
            chunk = list(range(start, min(start + self.batch_size, len(items))))
            if self.method == "choice-token":
                out += self._choice_token([items[i] for i in chunk], [built[i] for i in chunk])
            elif self.method == "generate":
                out += self._generate([items[i] for i in chunk], [built[i] for i in chunk])
            else:
                out += [self._loglik(items[i], built[i]) for i in chunk]
            if bar is not None:
                bar.update(len(chunk))
        return out

    def _budget(self, item: QuizItem) -> int | None:
        """loglik: the context minus this item's longest continuation (other methods: the fixed budget)."""
        if not self.method.startswith("loglik"):
            return None
        longest = max(len(self.tokenizer(self.target_delimiter + self.continuation(item, i),
                                         add_special_tokens=False)["input_ids"]) for i in range(len(item.choices)))
        return max(8, self.max_len - longest)

    def _choice_token(self, items: list[QuizItem], built: list[tuple]) -> list[Scored]:
        logits = self._forward([ids for _, ids, _ in built])
        out = []
        for row, (item, (text, ids, cut)) in enumerate(zip(items, built)):
            scores = self._label_logprobs(logits[row, len(ids) - 1], item.labels)
            probs = torch.softmax(scores, dim=0)
            out.append(Scored(probs.tolist(), int(probs.argmax()), "", scores.tolist(), len(ids), cut, text))
        return out

    def continuation(self, item: QuizItem, i: int) -> str:
        """The text loglik scores for choice `i`: the choice text, or (`answer`) the whole answer line."""
        if self.loglik_target == "answer":
            return self.template.output.format(label=item.labels[i], text=item.choices[i])
        return item.choices[i]

    def _pair(self, item: QuizItem, text: str, ids: list[int], cut: dict) -> tuple[list[int], list[list[int]]]:
        """(context ids, continuation ids per choice) in the chosen tokenisation. Joint: when context + the longest
        continuation exceed max_len + 1 tokens, the context is cut from the left by the excess (the harness cuts each
        choice's input on its own, so scores equal the harness's only for items that fit)."""
        targets = [self.target_delimiter + self.continuation(item, i) for i in range(len(item.choices))]
        if self.loglik_tokenization == "apart":
            return ids, [self.tokenizer(t, add_special_tokens=False)["input_ids"] for t in targets]
        pairs = [harness_encode_pair(self.tokenizer, text, t, self.add_bos_token) for t in targets]
        ctx, conts = pairs[0][0], [c for _, c in pairs]
        if not all(conts):
            raise QgenInputError("a choice adds no tokens after the prompt under joint tokenisation", path=item.file,
                                 record=item.id, field="input")
        excess = len(ctx) + max(len(c) for c in conts) - 1 - self.max_len
        if excess > 0:
            cut["cut_left_tokens"] = cut.get("cut_left_tokens", 0) + excess
            ctx = ctx[excess:]
        return ctx, conts

    def _loglik(self, item: QuizItem, built: tuple) -> Scored:
        """The prompt runs once; its KV cache is repeated for the choices, whose tokens then run as one batch."""
        text, ids, cut = built
        ids, conts = self._pair(item, text, ids, cut)
        dev = self.model.device
        with torch.no_grad():
            out = self.model(input_ids=torch.tensor([ids], device=dev), use_cache=True)
            first = torch.log_softmax(out.logits[0, -1].float(), dim=-1)
            sums = [float(first[c[0]]) if c else 0.0 for c in conts]
            if max(len(c) for c in conts) > 1:
                past = out.past_key_values
                past.batch_repeat_interleave(len(conts))
                rest, mask = pad_rows([c[:-1] or [self.tokenizer.pad_token_id] for c in conts],
                                      self.tokenizer.pad_token_id)
                mask = torch.cat([torch.ones((len(conts), len(ids)), dtype=torch.long), mask], dim=1)
                logits = self.model(input_ids=rest.to(dev), attention_mask=mask.to(dev), past_key_values=past).logits
                logp = torch.log_softmax(logits.float(), dim=-1)
                for row, c in enumerate(conts):
                    if len(c) > 1:
                        target = torch.tensor(c[1:], device=logp.device)[:, None]
                        sums[row] += float(logp[row, : len(c) - 1].gather(1, target).sum())
        chars = [len(self.continuation(item, i)) for i in range(len(item.choices))]  # the harness: len(choice)
        normed = [s / max(1, n) for s, n in zip(sums, chars)]
        scores = normed if self.method == "loglik-norm" else sums
        probs = torch.softmax(torch.tensor(scores, dtype=torch.float64), dim=0)
        extra = {"pred_acc": _argmax(sums), "pred_acc_norm": _argmax(normed), "continuation_chars": chars}
        return Scored(probs.tolist(), _argmax(scores), "", sums, len(ids), cut, text, extra)

    def _generate(self, items: list[QuizItem], built: list[tuple]) -> list[Scored]:
        tok = self.tokenizer
        pad = tok.pad_token_id
        ids, mask = pad_rows([ids for _, ids, _ in built], pad, left=True)  # generation needs left padding
        n = ids.shape[1]
        with torch.no_grad():
            gen = self.model.generate(input_ids=ids.to(self.model.device), attention_mask=mask.to(self.model.device),
                                      max_new_tokens=self.max_new_tokens, do_sample=False, num_beams=1,
                                      output_logits=True, return_dict_in_generate=True,
                                      pad_token_id=pad, eos_token_id=tok.eos_token_id)
        out = []
        for row, (item, (text, pids, cut)) in enumerate(zip(items, built)):
            new = gen.sequences[row, n:].tolist()
            if tok.eos_token_id in new:
                new = new[: new.index(tok.eos_token_id)]
            raw = tok.decode(new, skip_special_tokens=True)
            scores = self._label_logprobs(gen.logits[0][row], item.labels)
            probs = torch.softmax(scores, dim=0)
            out.append(Scored(probs.tolist(), parse_answer(raw, item.choices), raw, scores.tolist(), len(pids), cut,
                              text))
        return out


def _argmax(values: list[float]) -> int:
    """The first index of the largest value (numpy's tie rule, which the harness's np.argmax follows)."""
    return max(range(len(values)), key=values.__getitem__)  # max keeps the first of equal values
