"""torchrun / DDP plumbing: process-group setup from the environment, wrapping, reductions, rank-0-only side effects.

`torchrun --nproc_per_node N train.py …` sets RANK/WORLD_SIZE/LOCAL_RANK; a plain `python train.py` is world size 1
and every helper here is then a no-op. Backend: nccl on CUDA, gloo on the CPU.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel as DDP

from qgen.training.distributed import fsdp
from qgen.training.distributed.fsdp import wrap_fsdp  # by name: wrap()'s `fsdp` flag hides the module

if TYPE_CHECKING:  # annotations only
    from qgen.training.config import RunArgs

log = logging.getLogger("qgen.training.loop")  # the loop's messages


@dataclass(frozen=True)
class DistInfo:
    """This process's place in the run: its rank, the world size, its device (world 1 without torchrun)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that writes files and logs."""
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        """More than one process: the collectives below do something."""
        return self.world > 1


def restart_count() -> int:
    """How many times torchrun (`--max-restarts`) has restarted this worker group; 0 outside torchrun."""
    return int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0") or 0)


def launch_rank() -> int:
    """This process's global rank as torchrun set it (readable before the process group exists)."""
    return int(os.environ.get("RANK", "0") or 0)


def under_torchrun() -> bool:
    """Started by torchrun's elastic agent (which forwards the scheduler's SIGTERM and SIGKILLs after
    --shutdown-timeout)."""
    return "TORCHELASTIC_RUN_ID" in os.environ


class RankTimeoutError(RuntimeError):
    """A collective waited longer than `--dist-timeout` for the other ranks: one of them hung, stopped or is lost."""


def is_timeout(error: BaseException) -> bool:
    """Whether `error` is a collective's timeout (gloo: "Timed out waiting …ms", NCCL's watchdog: "timeout")."""
    return isinstance(error, RuntimeError) and "timed out" in str(error).lower()


def resume_on_restart(run: RunArgs) -> None:
    """torchrun restarted the worker group (`--max-restarts`, after a rank was lost): this attempt continues from the
    newest complete last/ exactly as `--resume` does, with no flag added, and is a resume for every check that treats
    a fresh run and a resumed one differently (`run`: the config's RunArgs). Attempt 0 is what the command line says."""
    restarts = restart_count()
    if restarts and not run.resume:
        run.resume = True
        if launch_rank() == 0:
            log.warning("torchrun restart %d: resuming from %s", restarts, os.path.join(run.output_dir, "last"))


@contextlib.contextmanager
def timeouts_as_errors(process: DistInfo, timeout_s: float, last_dir: str | Path) -> Iterator[None]:
    """A collective's timeout (a rank hung, stopped or lost) → RankTimeoutError, one line saying so."""
    try:
        yield
    except RuntimeError as e:
        if not (process.enabled and is_timeout(e)):
            raise
        raise RankTimeoutError(f"rank {process.rank}: the other ranks did not answer for {timeout_s:g} s "
                               f"(--dist-timeout): a rank hung, was stopped or is lost; stopping. {last_dir} holds "
                               f"the last saved step (relaunch with --resume)") from None


def init(device: str | None = None, timeout_s: float = 1800.0) -> DistInfo:
    """Join the process group torchrun describes (if any) and pick this process's device. `timeout_s`: how long any
    collective waits for the other ranks before it raises (a hung rank then stops the run instead of blocking it)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    cuda = torch.cuda.is_available() and device != "cpu"
    dev = torch.device(f"cuda:{local_rank}" if cuda else "cpu")
    if cuda:
        torch.cuda.set_device(dev)
    if world > 1 and not dist.is_initialized():
        backend, timeout = "nccl" if cuda else "gloo", timedelta(seconds=timeout_s)
        if restart_count() and os.environ.get("TORCHELASTIC_USE_AGENT_STORE") == "True":
            # torchrun's workers share its rendezvous store, which outlives a restart: a restarted group would read
            # the lost group's gloo addresses from it (connectFullMesh: connection refused). The store torch makes
            # for env:// is used as is, its keys prefixed per attempt.
            store, _, _ = next(dist.rendezvous("env://", rank, world, timeout=timeout))
            store = dist.PrefixStore(f"qgen/attempt{restart_count()}/", store)
            dist.init_process_group(backend=backend, store=store, rank=rank, world_size=world, timeout=timeout)
        else:
            dist.init_process_group(backend=backend, timeout=timeout)
    return DistInfo(rank, world, local_rank, dev)


def cleanup() -> None:
    """Leave the process group (if any), so a second run in the same process can join a new one."""
    if dist.is_initialized():
        dist.destroy_process_group()


def wrap(model: torch.nn.Module, process: DistInfo, fsdp: bool = False) -> torch.nn.Module:
    """DDP under torchrun, or FSDP2 (qgen.training.distributed.fsdp) when `--fsdp` is set."""
    if fsdp:
        return wrap_fsdp(model, process)
    if not process.enabled:
        return model
    return DDP(model, device_ids=[process.device.index] if process.device.type == "cuda" else None)


def state_for_save(model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                   with_state: bool) -> tuple[dict | None, dict | None]:
    """(model state dict, optimiser state) to save. Under FSDP both are gathered whole onto rank 0 by collectives,
    so every rank must call this; otherwise (None = let save_pretrained read the model, optimizer.state_dict())."""
    if fsdp.is_sharded(model):
        weights = fsdp.full_state_dict(model)
        return weights, fsdp.full_optimizer_state(model, optimizer) if with_state else None
    return None, optimizer.state_dict() if with_state else None


def load_optimizer_state(model: torch.nn.Module, optimizer: torch.optim.Optimizer, state: dict) -> None:
    """Restore what `state_for_save` returned (FSDP: re-shard the full state into each rank's optimiser)."""
    if fsdp.is_sharded(model):
        fsdp.load_optimizer_state(model, optimizer, state)
    else:
        optimizer.load_state_dict(state)


def no_sync(model: torch.nn.Module, skip: bool) -> contextlib.AbstractContextManager:
    """Skip DDP's gradient all-reduce for all but the last micro-batch of a step."""
    return model.no_sync() if skip and hasattr(model, "no_sync") else contextlib.nullcontext()


def sum_(values: list[float], process: DistInfo) -> list[float]:
    """Sum a few numbers over ranks (one all_reduce, float64 so token counts stay exact)."""
    if not process.enabled:
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=process.device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.tolist()


def any_(flag: bool, process: DistInfo) -> bool:
    """True on every rank if it is True on any rank (agreeing on skipping a non-finite step)."""
    return sum_([1.0 if flag else 0.0], process)[0] > 0


def barrier(process: DistInfo) -> None:
    """Wait for every rank (a no-op in one process)."""
    if process.enabled:
        dist.barrier()
