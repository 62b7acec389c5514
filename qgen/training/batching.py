"""Examples → cached token features → batches: length-grouped or token-budget, fixed per (seed, epoch), sharded by rank.

An epoch's batch order is a pure function of (lengths, seed, epoch), so a resumed run finds the same batch at the same
index, and every rank computes the same order and takes its own slice of each batch (`shard`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from qgen.core.constants import IGNORE
from qgen.core.files import write_json
from qgen.data.examples import Example
from qgen.models.formats.sequence import SequenceFormat
from qgen.training import packing

log = logging.getLogger(__name__)

MEGA = 50  # length grouping sorts within mega-batches of MEGA × batch_size examples


def _tokenizer_fingerprint(tokenizer: Any) -> str:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        text = json.dumps(tokenizer.get_vocab(), sort_keys=True)
    else:  # truncation/padding are call-time state the last encode() left behind, not part of the tokenizer
        state = json.loads(backend.to_str())
        state.pop("truncation", None)
        state.pop("padding", None)
        text = json.dumps(state, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def encode_cached(examples: Sequence[Example], sequence_format: SequenceFormat, source_path: str | Path,
                  cache_dir: str | Path, settings: dict) -> list[dict]:
    """`sequence_format.encode` over examples, cached under cache_dir by hash(file bytes, tokenizer, format settings):
    a second run on the same file and settings skips tokenising."""
    h = hashlib.sha256()
    h.update(Path(source_path).read_bytes())
    h.update(_tokenizer_fingerprint(sequence_format.tokenizer).encode())
    model_kind = sequence_format.kind
    h.update(json.dumps({"kind": model_kind, **settings}, sort_keys=True, default=str).encode())  # the cache's key
    path = Path(cache_dir) / f"{Path(source_path).stem}-{model_kind}-{h.hexdigest()[:16]}.json"
    if path.is_file():
        try:
            features = json.loads(path.read_text(encoding="utf-8"))
            if _well_formed(features, len(examples), len(sequence_format.tokenizer)):
                return features
        except (ValueError, TypeError, OSError, RecursionError):  # a damaged cache (JSON, UTF-8: ValueErrors)
            pass
        log.warning("token cache %s is damaged: rebuilding it", path)
    features = [sequence_format.encode(ex) for ex in examples]
    write_json(path, features, indent=None)
    log.info("tokenised %d examples → %s", len(features), path)
    return features


def _well_formed(features: object, n: int, vocab: int) -> bool:
    """The cache holds `n` features, each {name: list of token ids} with input_ids and labels, every id in the
    vocabulary (labels: or IGNORE); a cache edited or written by other code would otherwise fail deep in a step."""
    def ids(values: object, ignore: bool = False) -> bool:  # min / max: C speed on what may be millions of ids
        if not isinstance(values, list) or not values:
            return isinstance(values, list)
        kept = [t for t in values if t != IGNORE] if ignore else values
        return not kept or (type(kept[0]) is int and min(kept) >= 0 and max(kept) < vocab)

    return isinstance(features, list) and len(features) == n and all(
        isinstance(f, dict) and ids(f.get("input_ids")) and ids(f.get("labels"), True) for f in features)


def lengths(features: list[dict]) -> list[int]:
    """Padded-size proxy per example: the longest of its sequences (source/target for seq2seq, one for causal)."""
    return [max(len(f["input_ids"]), len(f["labels"])) for f in features]


def _cut(order: list[int], lens: list[int], batch_size: int, max_tokens: int) -> list[list[int]]:
    batches: list[list[int]] = []
    cur: list[int] = []
    longest = 0
    for i in order:
        if max_tokens:
            new_longest = max(longest, lens[i])
            if cur and new_longest * (len(cur) + 1) > max_tokens:
                batches.append(cur)
                cur, new_longest = [], lens[i]
            cur.append(i)
            longest = new_longest
        else:
            cur.append(i)
            if len(cur) == batch_size:
                batches.append(cur)
                cur = []
    if cur:
        batches.append(cur)
    return batches


def make_batches(lens: list[int], batch_size: int, *, max_tokens: int = 0, group_by_length: bool = True,
                 seed: int = 0, epoch: int = 0) -> list[list[int]]:
    """One epoch's batches (lists of example indices) in training order.

    group_by_length: shuffle, sort each mega-batch of MEGA×batch_size by length, cut, then shuffle the batch order.
    max_tokens > 0: cut so that (longest length × examples) ≤ max_tokens (a single longer example is its own batch).
    """
    rng = random.Random(f"{seed}-{epoch}")
    order = list(range(len(lens)))
    rng.shuffle(order)
    if not group_by_length:
        return _cut(order, lens, batch_size, max_tokens)
    mega = MEGA * (batch_size if not max_tokens else max(1, max_tokens // max(1, max(lens, default=1))))
    mega = max(mega, MEGA)
    batches = []
    for start in range(0, len(order), mega):
        chunk = sorted(order[start : start + mega], key=lambda i: lens[i], reverse=True)
        batches.extend(_cut(chunk, lens, batch_size, max_tokens))
    rng.shuffle(batches)
    return batches


def eval_batches(lens: list[int], batch_size: int) -> list[list[int]]:
    """Validation batches: sorted by length (least padding), order irrelevant."""
    order = sorted(range(len(lens)), key=lambda i: lens[i], reverse=True)
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def shard(batch: list[int], rank: int, world: int) -> tuple[list[int], bool]:
    """This rank's slice of a global batch; (indices, real). A rank left empty gets a dummy it must not count."""
    mine = batch[rank::world]
    return (mine, True) if mine else (batch[:1], False)


def collate(sequence_format: SequenceFormat, features: list[dict], indices: list[int], real: bool = True,
            pack: bool = False) -> dict:
    """The micro-batch's tensors; `pack`: causal examples packed into fewer rows (qgen.training.packing)."""
    chosen = [features[i] for i in indices]
    batch = packing.collate(chosen, sequence_format.tokenizer.pad_token_id) if pack else sequence_format.collate(chosen)
    if not real:  # a placeholder keeps DDP's collectives in step; it contributes no loss and no tokens
        batch["labels"] = torch.full_like(batch["labels"], IGNORE)
    return batch


def count_targets(model_kind: str, batch: dict) -> int:
    """Target tokens the loss will see (causal logits are shifted: the first position predicts nothing)."""
    labels = batch["labels"][:, 1:] if model_kind == "causal" else batch["labels"]
    return int((labels != IGNORE).sum())


def padding_fraction(lens: list[int], batches: list[list[int]]) -> float:
    """Fraction of padded positions: 1 - real tokens / (longest × examples) summed over batches."""
    real = sum(lens[i] for b in batches for i in b)
    padded = sum(max(lens[i] for i in b) * len(b) for b in batches)
    return 1 - real / padded if padded else 0.0
