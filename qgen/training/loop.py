"""The training loop: explicit, one screen for the step, no framework (nanoGPT / torchtune style).

A step: collate its micro-batches, count their target tokens (summed over ranks) *before* any backward, backward each
micro-batch's loss_sum / step_tokens (× world size, since DDP averages), unscale, clip, check loss and gradient norm
for non-finite values (agreed over ranks), then step or skip. So k micro-batches give exactly the gradients of one
k-times larger batch, and the logged loss does not depend on grad_accum.

Reliability: one run per output directory (a lock, qgen.core.files.DirLock); checkpoints are atomic directory swaps, so a
kill -9 at any moment leaves a loadable `best/` and `last/`; SIGINT / SIGTERM finish the current step (with its
validation), save `last/` and raise TrainingInterrupted; a damaged `last/` stops `--resume` with an error naming the
file. The `pause_point` calls are test-only hooks (inert unless QGEN_TEST_PAUSE_AT names them): step N's are
`stepN:microI` (after micro-batch I's backward), `stepN:backward`, `stepN:optimizer`, `stepN:end`, `validN:batchI`,
and `save:{best,last}:N:{tmpdir,weights,state,swap,swapped}` for the checkpoint written after step N.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import signal
import threading
import time
from pathlib import Path

import torch

from qgen.core.errors import QgenInputError
from qgen.core.files import DirLock, DirLockedError, pause_point, wake_paused
from qgen.training import batching, checkpoint, losses, precision, schedule
from qgen.training import model_setup as setup
from qgen.training.distributed import ddp as distributed
from qgen.training.runlog import RunLogger
from qgen.training.setup import METRICS, as_config, guess_task, read_data, seed_everything, step_seed, validate

log = logging.getLogger(__name__)


class TrainingDiverged(RuntimeError):
    """Too many consecutive non-finite steps; `last/` holds the last good state."""


class TrainingInterrupted(RuntimeError):
    """SIGINT / SIGTERM: the run finished its current step, saved `last/` and stopped; `--resume` continues exactly."""

    def __init__(self, signum: int, step: int, last_dir):
        self.signum, self.step, self.last_dir = signum, step, str(last_dir)
        super().__init__(f"{signal.Signals(signum).name} received: stopped after step {step}; "
                         f"{last_dir} holds its full state")


class _StopOnSignal:
    """The first SIGINT (Ctrl-C) or SIGTERM sets `signum`, which the loop checks at the end of each step; a second
    one stops at once (SIGINT: KeyboardInterrupt, SIGTERM: the default action) — checkpoints are atomic, so nothing is
    left half-written. Handlers are installed only in the main thread and restored afterwards."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.signum: int | None = None
        self._previous: dict = {}

    def __enter__(self) -> _StopOnSignal:
        if threading.current_thread() is threading.main_thread():
            for s in self.SIGNALS:
                self._previous[s] = signal.signal(s, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for s, handler in self._previous.items():
            signal.signal(s, handler if handler is not None else signal.SIG_DFL)

    def _handle(self, signum, frame) -> None:
        if self.signum is not None:
            if signum == signal.SIGINT:
                raise KeyboardInterrupt
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        self.signum = signum
        # os.write, not print: the handler may run while the main thread is inside a write to stderr (tqdm)
        os.write(2, f"\n{signal.Signals(signum).name}: stopping after this step and saving last/ "
                    f"(send it again to stop at once)\n".encode())
        wake_paused()


@contextlib.contextmanager
def _output_lock(out: Path, info):
    """One training run per output directory: rank 0 holds DirLock; every rank learns when it could not."""
    lock, error = None, None
    if info.is_main:
        try:
            lock = DirLock(out).acquire()
        except DirLockedError as e:
            error = e
    if distributed.any_(error is not None, info):
        raise QgenInputError(str(error or "in use by another run"), path=out, field="output_dir")
    if lock is not None and lock.previous:
        log.warning("took over the lock left by a run that is no longer running (%s)", lock.previous)
    try:
        yield
    finally:
        if lock is not None:
            lock.release()


def _to(batch: dict, device) -> dict:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


@torch.no_grad()
def evaluate(model, adapter, features, batches, loss_fn, info, prec, point: str | None = None) -> dict:
    """Validation loss per target token (and token accuracy) over the whole set, summed over ranks."""
    was_training = model.training
    model.eval()
    loss_sum = tokens = correct = 0.0
    for i, batch in enumerate(batches, 1):
        idx, real = batching.shard(batch, info.rank, info.world)
        b = _to(batching.collate(adapter, features, idx, real), info.device)
        with precision.autocast(prec, info.device):
            logits, labels = adapter.logits(model, b)
        ls, n = loss_fn(logits, labels)
        mask = labels != batching.IGNORE
        loss_sum, tokens = loss_sum + float(ls), tokens + int(n)
        correct += int(((logits.argmax(-1) == labels) & mask).sum())
        if point:
            pause_point(f"{point}:batch{i}")
    model.train(was_training)
    loss_sum, tokens, correct = distributed.sum_([loss_sum, tokens, correct], info)
    loss = loss_sum / max(tokens, 1)
    return {"valid_loss": loss, "valid_ppl": math.exp(min(loss, 50.0)), "valid_accuracy": correct / max(tokens, 1)}


def train_step(model, adapter, micro, loss_fn, info, prec, scaler, point: str | None = None) -> tuple[float, float, int]:
    """Forward/backward over one step's micro-batches; returns (this rank's loss_sum, step target tokens and input
    tokens summed over ranks)."""
    kind = adapter.kind
    tokens, n_in = distributed.sum_([sum(batching.count_targets(kind, b) for b in micro),
                                     sum(int(b["attention_mask"].sum()) for b in micro)], info)
    scale = info.world / max(tokens, 1.0)  # DDP averages gradients over ranks; × world makes it a sum
    loss_sum = torch.zeros((), dtype=torch.float64, device=info.device)
    for i, b in enumerate(micro):
        with distributed.no_sync(model, i < len(micro) - 1), precision.autocast(prec, info.device):
            logits, labels = adapter.logits(model, _to(b, info.device))
            ls, _ = loss_fn(logits, labels)
        scaler.scale(ls * scale).backward()
        loss_sum += ls.detach()
        if point:
            pause_point(f"{point}:micro{i + 1}")
    return float(loss_sum), tokens, int(n_in)


def train(config) -> dict:
    """Train from a TrainConfig, dict or YAML path; returns the summary (best step/metric, where best/ is)."""
    cfg = as_config(config)
    validate(cfg)
    data = read_data(cfg)  # bad data is reported before anything is written
    if cfg.model.task == "auto":
        cfg.model.task = guess_task(data[0], cfg.data.train_file)
    info = distributed.init()
    try:
        with _output_lock(Path(cfg.run.output_dir), info), _StopOnSignal() as stop_signal:
            return _train(cfg, info, data, stop_signal)
    finally:
        distributed.cleanup()


def _train(cfg, info, data, stop_signal: _StopOnSignal) -> dict:
    d, o, r = cfg.data, cfg.optim, cfg.run
    out = Path(r.output_dir)
    train_ex, valid_ex = data
    last_dir, best_dir = out / "last", out / "best"
    if info.is_main:  # under the lock: whatever a killed run left half-done goes
        checkpoint.recover(last_dir)
        checkpoint.recover(best_dir)
    distributed.barrier(info)
    resume = r.resume and checkpoint.resumable(last_dir)  # a damaged last/ is an error, never a silent restart
    if r.resume and not resume and info.is_main:
        log.warning("--resume: no %s yet, starting from the beginning", last_dir)
    seed_everything(r.seed)

    # Rank 0 builds tiny models and the tokenisation cache first; the others then find them ready.
    if not info.is_main:
        distributed.barrier(info)
    texts = [t for ex in train_ex for t in (ex.source, ex.input, ex.target) if t]
    loaded = setup.build(cfg, texts, out, weights_from=last_dir if resume else None)
    model, tok, adapter = loaded.model, loaded.tokenizer, loaded.adapter
    settings = setup.adapter_settings(cfg, loaded.kind)
    feats = batching.encode_cached(train_ex, adapter, d.train_file, out / "cache", settings)
    vfeats = batching.encode_cached(valid_ex, adapter, d.valid_file, out / "cache", settings) if valid_ex else []
    if info.is_main:
        distributed.barrier(info)

    dev = info.device
    if dev.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = cfg.model.tf32
    prec = precision.resolve(cfg.model.precision, dev, getattr(model.config, "model_type", ""))
    model.to(dev)
    if prec == "fp16":
        precision.keep_t5_ffn_in_fp32(model, dev)
    model = distributed.wrap(model, info, cfg.dist.fsdp)
    raw = distributed.unwrap(model)
    loss_fn = losses.get(r.loss, label_smoothing=r.label_smoothing)

    lens = batching.lengths(feats)
    per_batch = d.batch_size * info.world  # a global micro-batch; each rank takes its slice

    def epoch_batches(epoch):
        return batching.make_batches(lens, per_batch, max_tokens=d.max_tokens * info.world,
                                     group_by_length=d.group_by_length, seed=r.seed, epoch=epoch)

    steps_per_epoch = lambda e: math.ceil(len(epoch_batches(e)) / o.grad_accum)  # noqa: E731
    total = o.max_steps or (sum(steps_per_epoch(e) for e in range(int(o.epochs)))
                            + int((o.epochs % 1) * steps_per_epoch(int(o.epochs))))
    total = max(total, 1)
    vbatches = batching.eval_batches(batching.lengths(vfeats), d.valid_batch_size * info.world) if vfeats else []
    optimizer = schedule.make_optimizer(model, o, dev)
    scheduler = schedule.make_scheduler(optimizer, o, total)
    scaler = precision.make_scaler(prec, dev)
    higher = METRICS[r.metric] == "max"
    st = {"step": 0, "epoch": 0, "batch": 0, "best_metric": None, "best_step": None, "bad_evals": 0,
          "skipped": 0, "consecutive_nonfinite": 0, "valid_start": None}
    if resume:
        tensors, st = checkpoint.load_state(last_dir)
        distributed.load_optimizer_state(model, optimizer, tensors["optimizer"])
        scheduler.load_state_dict(tensors["scheduler"])
        scaler.load_state_dict(tensors["scaler"])
        checkpoint.set_rng_state(tensors["rng"])
    logger = RunLogger(out, info.is_main, total, st["step"], time_limit_s=60 * r.max_minutes)
    if resume:
        logger.message(f"resumed from {last_dir} at step {st['step']} of {total}")
    logger.message(f"{loaded.path} ({loaded.kind}, task {cfg.model.task}, precision {prec}, world {info.world}): "
                   f"{len(feats)} train / {len(vfeats)} valid examples, {total} steps")

    def save(directory, with_state):
        weights, optim_state = distributed.state_for_save(model, optimizer, with_state)  # all ranks: FSDP gathers
        error = None
        if info.is_main:
            tensors = {"optimizer": optim_state, "scheduler": scheduler.state_dict(),
                       "scaler": scaler.state_dict(), "rng": checkpoint.rng_state()} if with_state else None
            try:
                checkpoint.save(directory, raw, tok, cfg, dict(st), tensors, weights,
                                point=f"save:{directory.name}:{st['step']}")
            except checkpoint.CheckpointWriteError as e:
                error = e
        if distributed.any_(error is not None, info):  # doubles as the barrier; every rank stops on a failed write
            raise error or checkpoint.CheckpointWriteError(f"rank 0 could not write {directory}")

    def validate_now():
        metrics = evaluate(raw, adapter, vfeats, vbatches, loss_fn, info, prec, point=f"valid{st['step']}")
        logger.write({"event": "valid", "step": st["step"], "epoch": st["epoch"], **metrics})
        return metrics

    def run_steps():
        """The loop; returns why it stopped (None: all steps done)."""
        if vfeats and not resume:
            st["valid_start"] = validate_now()[r.metric]
        batches = epoch_batches(st["epoch"])
        window = [0.0, 0.0, 0, time.perf_counter()]  # loss sum, tokens, input tokens, since
        stop = None
        started = time.perf_counter()
        model.train()
        while st["step"] < total and stop is None:
            # ---- one optimiser step ---------------------------------------------------------------------------
            n = st["step"] + 1
            t_step = time.perf_counter()
            torch.manual_seed(step_seed(r.seed, st["step"], info.rank))
            todo = batches[st["batch"] : st["batch"] + o.grad_accum]
            micro = [batching.collate(adapter, feats, *batching.shard(b, info.rank, info.world)) for b in todo]
            loss_sum, tokens, n_in = train_step(model, adapter, micro, loss_fn, info, prec, scaler, point=f"step{n}")
            pause_point(f"step{n}:backward")
            scaler.unscale_(optimizer)
            gnorm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), o.max_grad_norm or math.inf))
            # one all_reduce: the step's loss over all ranks, whether any rank saw a non-finite gradient norm, and
            # whether any rank was asked to stop (so all ranks stop after the same step)
            loss_sum, bad, signalled = distributed.sum_(
                [loss_sum, float(not math.isfinite(gnorm)), float(stop_signal.signum is not None)], info)
            nonfinite = bad != 0 or not math.isfinite(loss_sum)
            if nonfinite:  # skip: no optimiser/scheduler step; the scaler (fp16) lowers its scale
                st["skipped"] += 1
                st["consecutive_nonfinite"] += 1
                if scaler.is_enabled():
                    scaler.update()
            else:
                scaler.step(optimizer)
                scaler.update()
                scheduler.step()
                st["consecutive_nonfinite"] = 0
            optimizer.zero_grad(set_to_none=True)
            pause_point(f"step{n}:optimizer")
            st["step"] += 1
            st["batch"] += len(todo)
            # ---- bookkeeping ------------------------------------------------------------------------------------
            epoch_end = st["batch"] >= len(batches)
            if epoch_end:
                st["epoch"], st["batch"] = st["epoch"] + 1, 0
                batches = epoch_batches(st["epoch"])
            if nonfinite:
                logger.write({"event": "nonfinite", "step": st["step"], "loss": loss_sum / max(tokens, 1),
                              "grad_norm": gnorm, "consecutive": st["consecutive_nonfinite"]})
                if st["consecutive_nonfinite"] >= r.max_nonfinite_steps:
                    return "nonfinite"
            else:
                window[0] += loss_sum
                window[1] += tokens
            window[2] += n_in
            lr = scheduler.get_last_lr()[0]
            if st["step"] % r.log_steps == 0 or st["step"] == total:
                elapsed = time.perf_counter() - window[3]
                loss = window[0] / window[1] if window[1] else float("nan")
                logger.write({"event": "train", "step": st["step"], "epoch": st["epoch"], "loss": loss, "lr": lr,
                              "grad_norm": gnorm, "tokens_per_s": window[2] / max(elapsed, 1e-9),
                              "skipped": st["skipped"]})
                window = [0.0, 0.0, 0, time.perf_counter()]
            logger.progress(1, loss=loss_sum / max(tokens, 1), lr=lr, tok_s=int(n_in / (time.perf_counter() - t_step)),
                            skipped=st["skipped"])
            pause_point(f"step{n}:end")
            if r.max_minutes and time.perf_counter() - started > 60 * r.max_minutes:
                stop = "time_limit"
            evaluated = bool(vfeats) and ((r.eval_steps and st["step"] % r.eval_steps == 0) or epoch_end
                                          or st["step"] == total or stop == "time_limit")
            if evaluated:
                value = validate_now()[r.metric]
                better = st["best_metric"] is None or (value > st["best_metric"] if higher else value < st["best_metric"])
                if better:
                    st.update(best_metric=value, best_step=st["step"], bad_evals=0)
                    save(best_dir, with_state=False)
                else:
                    st["bad_evals"] += 1
                    if r.early_stopping_patience and st["bad_evals"] >= r.early_stopping_patience:
                        stop = "early_stopping"
            # a signal stops the run here, after the step's own validation, so `--resume` continues exactly;
            # one process re-reads the flag (a signal during validation counts), ranks use the agreed value
            if stop is None and st["step"] < total and (signalled or (info.world == 1 and stop_signal.signum)):
                stop = "interrupted"
            periodic = r.save_steps and st["step"] % r.save_steps == 0 and not nonfinite  # no save mid skip-streak
            if evaluated or stop or st["step"] == total or periodic:
                save(last_dir, with_state=True)
        if not vfeats and stop != "interrupted":  # no validation: best/ is the final model
            st.update(best_step=st["step"])
            save(best_dir, with_state=False)
        return stop

    try:
        stop = run_steps()
    except BaseException:
        with contextlib.suppress(Exception):
            logger.close()  # release the files; the original error is the one to report
        raise
    logger.close()
    if stop == "nonfinite":
        raise TrainingDiverged(f"{st['consecutive_nonfinite']} consecutive non-finite steps (loss or gradient norm "
                               f"inf/nan) at step {st['step']}; stopped. {last_dir} holds the last good state "
                               f"(lower --lr, use --precision fp32/bf16, or raise --max-nonfinite-steps)")
    if stop == "interrupted":
        raise TrainingInterrupted(stop_signal.signum, st["step"], last_dir)
    return {"best_step": st["best_step"], "best_metric": st["best_metric"], "metric": r.metric,
            "valid_start": st["valid_start"], "best_dir": str(best_dir), "last_dir": str(last_dir),
            "steps": st["step"], "skipped_steps": st["skipped"], "stopped": stop or "completed", "task": cfg.model.task,
            "precision": prec}
