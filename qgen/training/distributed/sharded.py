"""`last/` under `--fsdp` as a sharded torch.distributed.checkpoint (DCP): each rank writes its own shard of the
weights and the optimiser state, so no rank ever holds the whole state; loading reshards to any world size.

Layout: `last/dcp/` (DCP's `.metadata` and one `__R_0.distcp` per rank, keys "model" and "optim" as
`get_state_dict` names them: parameter names, the same with or without FSDP/DDP), beside it what rank 0 writes as
for any `last/`: config.json, the tokenizer, qgen_config.yaml, input_spec.json, trainer_state.pt (scheduler, scaler,
RNG; no optimiser) and trainer_state.json. The directory is written in a temp dir beside `last/` (rank 0 makes it and
tells the others its name) and swapped in by rename only after every rank's shard and DCP's metadata are on disk, so
a half-written sharded checkpoint is never `last/`. `best/` stays a plain Hugging Face directory (gathered).
`consolidate` turns the shards into a full model offline (no process group): `qgen export` uses it.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import torch
import torch.distributed as dist

from qgen.core.errors import QgenInputError
from qgen.core.files import atomic_dir, pause_point

if TYPE_CHECKING:  # annotations only
    from qgen.training.distributed.ddp import DistInfo

log = logging.getLogger(__name__)

DCP_DIR = "dcp"


def is_sharded_dir(directory: str | Path) -> bool:
    """A checkpoint written by `save` (DCP shards + metadata), as opposed to a plain HF directory."""
    return (Path(directory) / DCP_DIR / ".metadata").is_file()


def check_shards(directory: str | Path) -> None:
    """Every shard file DCP's metadata names exists and is long enough (a QgenInputError names the first that is
    not), without reading the tensors."""
    from torch.distributed.checkpoint import FileSystemReader  # ~1 s: only when a sharded checkpoint is checked

    root = Path(directory) / DCP_DIR
    try:
        metadata = FileSystemReader(root).read_metadata()
    except Exception as e:  # a truncated or foreign .metadata: pickle / EOF / OSError
        raise QgenInputError(f"unreadable DCP metadata: {str(e).splitlines()[0][:200] if str(e) else type(e).__name__}",
                             path=root / ".metadata") from None
    ends: dict[str, int] = {}
    for item in (metadata.storage_data or {}).values():
        ends[item.relative_path] = max(ends.get(item.relative_path, 0), item.offset + item.length)
    for name, end in sorted(ends.items()):
        path = root / name
        size = path.stat().st_size if path.is_file() else None
        if size is None:
            raise QgenInputError("missing shard (the checkpoint is incomplete)", path=path)
        if size < end:
            raise QgenInputError(f"truncated shard: {size} bytes, the metadata needs {end}", path=path)


def _share_path(path: str | None, process: DistInfo) -> str | None:
    """Rank 0's temp directory name, given to every rank (None: rank 0 could not make one)."""
    if not process.enabled:
        return path
    box = [path]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def save(directory: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, write_rest: Callable[[Path], None],
         process: DistInfo, point: str | None = None) -> None:
    """All ranks: write `directory` atomically; every rank its shards, then rank 0 `write_rest(tmp)` (the small
    files). Raises OSError / DCP's CheckpointException on every rank when any rank's write failed (the previous
    `directory` is then untouched)."""
    from torch.distributed.checkpoint import FileSystemWriter  # ~1 s: only when a sharded checkpoint is written
    from torch.distributed.checkpoint import save as dcp_save
    from torch.distributed.checkpoint.state_dict import get_state_dict

    mark = (lambda stage: pause_point(f"{point}:{stage}")) if point else (lambda stage: None)
    model_state, optim_state = get_state_dict(model, optimizer)  # this rank's shards (DTensors under FSDP)
    with contextlib.ExitStack() as stack:
        tmp = None
        if process.is_main:
            try:
                tmp = str(stack.enter_context(atomic_dir(directory, point)))
            finally:
                _share_path(tmp, process)  # also on failure, so the other ranks do not wait for it
        else:
            tmp = _share_path(None, process)
            if tmp is None:
                raise OSError(f"rank 0 could not create a temp directory beside {directory}")
        # sync_files: every shard is fsynced before DCP's metadata (the last file, rank 0's) is written
        dcp_save({"model": model_state, "optim": optim_state},
                 storage_writer=FileSystemWriter(Path(tmp) / DCP_DIR, sync_files=True), no_dist=not process.enabled)
        mark("shards")
        if process.is_main:
            write_rest(Path(tmp))
        # leaving the block: rank 0 fsyncs the tree and swaps it in (atomic_dir)


def load(directory: str | Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> None:
    """All ranks: read `directory`'s shards into `model` and `optimizer`, resharded to this run's world size."""
    from torch.distributed.checkpoint import load as dcp_load  # ~1 s: only when a sharded checkpoint is read
    from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict

    model_state, optim_state = get_state_dict(model, optimizer)
    state = {"model": model_state, "optim": optim_state}
    dcp_load(state, checkpoint_id=Path(directory) / DCP_DIR, no_dist=not dist.is_initialized())
    set_state_dict(model, optimizer, model_state_dict=state["model"], optim_state_dict=state["optim"])


def consolidate(directory: str | Path, model: torch.nn.Module) -> None:
    """Fill a full, unwrapped `model` (built from the checkpoint's config.json) with the sharded weights, offline: one
    process, no process group (DCP then reads without collectives), the optimiser state left unread."""
    from torch.distributed.checkpoint import load as dcp_load  # as above

    state = model.state_dict()
    dcp_load({"model": state}, checkpoint_id=Path(directory) / DCP_DIR, no_dist=True)
    model.load_state_dict(state)


def local_finite(model: torch.nn.Module) -> bool:
    """Whether this rank's part of the weights is finite (a DTensor's own shard: no collective)."""
    for p in model.parameters():
        t = p.to_local() if hasattr(p, "to_local") else p
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            return False
    return True
