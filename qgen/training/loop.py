"""The training loop: explicit, one screen for the step, no framework (nanoGPT / torchtune style).

Read top to bottom: `train` sets up the run (`TrainingRun.__init__`: output directory, model, data, optimiser, the
state a resume restores), `TrainingRun.run` loops over optimiser steps, and `optimizer_step` is one step: collate its
micro-batches, count their target tokens (summed over ranks) *before* any backward, then per micro-batch forward →
loss → backward of loss_sum / step_tokens (× world size, since DDP averages), then unscale, clip, check loss and
gradient norm for non-finite values (agreed over ranks), and step or skip. So k micro-batches give exactly the
gradients of one k-times larger batch, and the logged loss does not depend on grad_accum.

Reliability: one run per output directory (a lock, qgen.core.files.DirLock); checkpoints are atomic directory swaps, so a
kill -9 at any moment leaves a loadable `best/` and `last/`; SIGINT / SIGTERM finish the current step (with its
validation), save `last/` and raise TrainingInterrupted; a damaged `last/` stops `--resume` with an error naming the
file. The `pause_point` calls are test-only hooks (inert unless QGEN_TEST_PAUSE_AT names them): step N's are
`stepN:microI` (after micro-batch I's backward), `stepN:backward`, `stepN:optimizer`, `stepN:end`, `validN:batchI`,
and `save:{best,last}:N:{begin,tmpdir,weights,state,swap,swapped}` for the checkpoint written after step N (a
sharded last/, `--fsdp`: `begin`, `tmpdir`, `shards` on every rank, `state`, `swap`, `swapped`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import logging
import math
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from qgen.core.errors import QgenInputError
from qgen.core.files import pause_point
from qgen.core.threads import describe
from qgen.data.download import sha256_file
from qgen.data.examples import Example
from qgen.models.formats.sequence import SequenceFormat, answer_cuts, cut_note
from qgen.models.threads import set_threads
from qgen.models.unwrap import unwrap
from qgen.training import batching, checkpoint, losses, packing, precision, schedule, trainable_model
from qgen.training.config import METRICS, TrainConfig
from qgen.training.distributed import ddp as distributed
from qgen.training.distributed import sharded
from qgen.training.distributed.ddp import DistInfo
from qgen.training.forward import logits_and_labels
from qgen.training.guards import StopOnSignal, TrainingDiverged, TrainingInterrupted, output_lock
from qgen.training.run_inputs import (
    as_config,
    check_run_outputs,
    guess_task,
    read_data,
    seed_everything,
    split_keys,
    step_seed,
)
from qgen.training.runlog import RunLogger
from qgen.training.state import LogWindow, StepResult, TrainState

log = logging.getLogger(__name__)


class StopReason(enum.Enum):
    """Why the loop ended; the value is the summary's `stopped` (and the CLI's "done: … (completed, …)")."""

    COMPLETED = "completed"  # all steps done
    EARLY_STOPPING = "early_stopping"  # `patience` validations without a better metric
    TIME_LIMIT = "time_limit"  # --max-minutes passed
    NONFINITE = "nonfinite"  # too many non-finite steps in a row: raised as TrainingDiverged
    INTERRUPTED = "interrupted"  # SIGINT / SIGTERM: raised as TrainingInterrupted


@dataclass
class RunSummary:
    """How a finished run went; `train` returns it as a dict (`to_dict`), which the CLI prints and notebooks read."""

    best_step: int | None
    best_metric: float | None
    metric: str  # the tracked validation metric (--metric)
    valid_start: float | None  # the metric before the first step
    best_dir: str
    last_dir: str
    steps: int
    skipped_steps: int  # non-finite steps skipped
    stopped: StopReason
    task: str
    precision: str
    threads: int
    train_seconds: float

    def to_dict(self) -> dict[str, Any]:
        """The summary as plain values (`stopped`: the reason's name, e.g. "completed")."""
        return {**dataclasses.asdict(self), "stopped": self.stopped.value}


def train(config: TrainConfig | dict | str | Path) -> dict[str, Any]:
    """Train from a TrainConfig, dict or YAML path; returns the summary (best step/metric, where best/ is)."""
    cfg = as_config(config)
    distributed.resume_on_restart(cfg.run)
    cfg.check()  # every setting, the data files and the model's path, before anything is read or written
    check_run_outputs(cfg)  # a data file inside best/, last/ … would be replaced by the run
    data = read_data(cfg)  # bad data is reported before anything is written
    if cfg.model.task == "auto":
        cfg.model.task = guess_task(data[0], cfg.data.train_file)
    process = distributed.init(timeout_s=cfg.dist.dist_timeout)
    try:
        with (distributed.timeouts_as_errors(process, cfg.dist.dist_timeout, Path(cfg.run.output_dir) / "last"),
              output_lock(Path(cfg.run.output_dir), process), StopOnSignal() as stop_signal):
            return _train(cfg, process, data, stop_signal).to_dict()
    finally:
        distributed.cleanup()


def _train(cfg: TrainConfig, process: DistInfo, data: tuple[list[Example], list[Example]],
           stop_signal: StopOnSignal) -> RunSummary:
    """Set up, loop, close the log; a divergence or a signal becomes its exception after the log is closed."""
    run = TrainingRun(cfg, process, data, stop_signal)
    started = time.perf_counter()
    try:
        stopped = run.run()
    except BaseException:
        with contextlib.suppress(Exception):
            run.logger.close()  # release the files; the original error is the one to report
        raise
    run.logger.close()
    progress = run.progress
    if stopped is StopReason.NONFINITE:
        raise TrainingDiverged(f"{progress.consecutive_nonfinite} consecutive non-finite steps (loss or gradient "
                               f"norm inf/nan) at step {progress.step}; stopped. {run.last_dir} holds the last good "
                               f"state (lower --lr, use --precision fp32/bf16, or raise --max-nonfinite-steps)")
    if stopped is StopReason.INTERRUPTED:
        # a rank stopped because another rank was signalled reports SIGTERM, what a scheduler sends
        raise TrainingInterrupted(stop_signal.signum or signal.SIGTERM, progress.step, run.last_dir)
    return RunSummary(progress.best_step, progress.best_metric, cfg.run.metric, progress.valid_start,
                      str(run.best_dir), str(run.last_dir), progress.step, progress.skipped, stopped, cfg.model.task,
                      run.precision, run.threads, round(time.perf_counter() - started, 1))


class TrainingRun:
    """One training run, set up: the model, data, optimiser and the TrainState (`progress`) the loop advances."""

    def __init__(self, cfg: TrainConfig, process: DistInfo, data: tuple[list[Example], list[Example]],
                 stop_signal: StopOnSignal):
        self.cfg, self.process, self.stop_signal = cfg, process, stop_signal
        out = Path(cfg.run.output_dir)
        self.last_dir, self.best_dir = out / "last", out / "best"
        self.data_sha256 = sha256_file(cfg.data.train_file)  # saved with each checkpoint: --resume checks it
        self.resume = self._prepare_output_dir(out)
        self.wrote_last = self.resume  # until this run's first last/, a best/ it writes is marked as unfinished
        seed_everything(cfg.run.seed)
        self.threads = set_threads(cfg.run.threads)  # 0: from the machine's load (qgen.core.threads)
        self.loaded, self.train_features, self.valid_features = self._load_model_and_data(out, data)
        self.format = self.loaded.format
        self.precision = precision.resolve(cfg.model.precision, process.device,
                                           getattr(self.loaded.model.config, "model_type", ""))
        self.model = self._place_model()  # wrapped for DDP / FSDP: what the step runs
        self.plain_model = unwrap(self.model)  # without the DDP wrapper: validation and saving
        self.loss_fn = losses.get(cfg.run.loss, label_smoothing=cfg.run.label_smoothing)
        self.target_only = cfg.run.target_logits  # the output layer projects only target positions (forward.py)
        self.train_lengths = batching.lengths(self.train_features)
        self.total_steps = self._count_steps()
        self.valid_batches = (batching.eval_batches(batching.lengths(self.valid_features),
                                                    cfg.data.valid_batch_size * process.world)
                              if self.valid_features else [])
        self.optimizer = schedule.make_optimizer(self.model, cfg.optim, process.device)
        self.scheduler = schedule.make_scheduler(self.optimizer, cfg.optim, self.total_steps)
        self.scaler = precision.make_scaler(self.precision, process.device)
        self.progress = self._restore() if self.resume else TrainState()
        self.logger = RunLogger(out, process.is_main, self.total_steps, self.progress.step,
                                time_limit_s=60 * cfg.run.max_minutes)
        self._log_start()

    # ---- the loop -------------------------------------------------------------------------------------------------
    def run(self) -> StopReason:
        """Optimiser steps until the last one or a reason to stop; returns why it stopped."""
        progress, settings = self.progress, self.cfg.run
        if self.valid_features and not self.resume:
            progress.valid_start = self.validate()
        batches = self.epoch_batches(progress.epoch)
        window, stopped, started = LogWindow(), None, time.perf_counter()
        self.model.train()
        while progress.step < self.total_steps and stopped is None:
            result = self.optimizer_step(batches)
            epoch_end = progress.batch >= len(batches)
            if epoch_end:
                progress.epoch, progress.batch = progress.epoch + 1, 0
                batches = self.epoch_batches(progress.epoch)
            if result.nonfinite:
                self.logger.nonfinite(progress, result)
                if progress.consecutive_nonfinite >= settings.max_nonfinite_steps:
                    return StopReason.NONFINITE
            window = self.logger.step(progress, result, window, self.scheduler.get_last_lr()[0], settings.log_steps,
                                      self.total_steps)
            if settings.compile and progress.step == 1:
                self.logger.message(f"torch.compile: first step {time.perf_counter() - result.started:.1f} s "
                                    f"(compiling included); later shapes may compile again")
            pause_point(f"step{progress.step}:end")
            stopped = self._after_step(result, epoch_end, started)
        if not self.valid_features and stopped is not StopReason.INTERRUPTED:  # no validation: best/ is the last
            progress.best_step = progress.step
            self.save(self.best_dir, with_state=False)
        return stopped or StopReason.COMPLETED

    def optimizer_step(self, batches: list[list[int]]) -> StepResult:
        """One optimiser step: forward → loss → backward over its micro-batches, unscale, clip, agree over ranks on
        whether it is finite, then step (or skip)."""
        progress, number, started = self.progress, self.progress.step + 1, time.perf_counter()
        torch.manual_seed(step_seed(self.cfg.run.seed, progress.step, self.process.rank))  # resume: same dropout
        micro_batches = self._micro_batches(batches[progress.batch : progress.batch + self.cfg.optim.grad_accum])
        loss_sum, target_tokens, input_tokens = self.forward_backward(micro_batches, f"step{number}")
        pause_point(f"step{number}:backward")
        self.scaler.unscale_(self.optimizer)
        max_norm = self.cfg.optim.max_grad_norm or math.inf
        grad_norm = float(torch.nn.utils.clip_grad_norm_(self.model.parameters(), max_norm))
        # one all_reduce: the step's loss over all ranks, whether any rank saw a non-finite gradient norm, and
        # whether any rank was asked to stop (so all ranks stop after the same step)
        loss_sum, nonfinite_norms, signalled = distributed.sum_(
            [loss_sum, float(not math.isfinite(grad_norm)), float(self.stop_signal.signum is not None)], self.process)
        nonfinite = nonfinite_norms != 0 or not math.isfinite(loss_sum)
        if nonfinite:  # skip: no optimiser/scheduler step; the scaler (fp16) lowers its scale
            progress.skipped += 1
            progress.consecutive_nonfinite += 1
            if self.scaler.is_enabled():
                self.scaler.update()
        else:
            self.scaler.step(self.optimizer)
            self.scaler.update()
            self.scheduler.step()
            progress.consecutive_nonfinite = 0
        self.optimizer.zero_grad(set_to_none=True)
        pause_point(f"step{number}:optimizer")
        progress.step += 1
        progress.batch += len(micro_batches)
        return StepResult(loss_sum, target_tokens, input_tokens, grad_norm, nonfinite, bool(signalled), started)

    def forward_backward(self, micro_batches: list[dict], point: str = "") -> tuple[float, float, int]:
        """Forward → loss → backward of each micro-batch's loss sum / the step's target tokens (counted over all
        ranks first); returns (this rank's loss sum, target tokens and input tokens summed over ranks)."""
        target_tokens, input_tokens = distributed.sum_(
            [sum(batching.count_targets(self.format.kind, batch) for batch in micro_batches),
             sum(int(batch["attention_mask"].sum()) for batch in micro_batches)], self.process)
        scale = self.process.world / max(target_tokens, 1.0)  # DDP averages gradients over ranks; × world: a sum
        loss_sum = torch.zeros((), dtype=torch.float64, device=self.process.device)
        for i, batch in enumerate(micro_batches, 1):
            with distributed.no_sync(self.model, i < len(micro_batches)), self._autocast():
                logits, labels = logits_and_labels(self.model, self.format, self._to_device(batch), self.target_only)
                loss, _ = self.loss_fn(logits, labels)
            self.scaler.scale(loss * scale).backward()
            loss_sum += loss.detach()
            pause_point(f"{point}:micro{i}")
        return float(loss_sum), target_tokens, int(input_tokens)

    def _micro_batches(self, batches: list[list[int]]) -> list[dict]:
        """This rank's slice of each global micro-batch, collated (on the CPU: tokens are counted there)."""
        rank, world = self.process.rank, self.process.world
        return [batching.collate(self.format, self.train_features, *batching.shard(indices, rank, world),
                                 pack=self.cfg.data.pack) for indices in batches]

    def _to_device(self, batch: dict) -> dict:
        """The batch's tensors on this process's device."""
        return {name: tensor.to(self.process.device, non_blocking=True) for name, tensor in batch.items()}

    def _autocast(self) -> contextlib.AbstractContextManager:
        """Mixed precision for a forward (a no-op in fp32)."""
        return precision.autocast(self.precision, self.process.device)

    # ---- after a step: validation, best/, last/, stopping -----------------------------------------------------------
    def _after_step(self, result: StepResult, epoch_end: bool, started: float) -> StopReason | None:
        """Validation, best/ and last/ after a step; returns why to stop now, if so."""
        progress, settings, total = self.progress, self.cfg.run, self.total_steps
        out_of_time = bool(settings.max_minutes) and time.perf_counter() - started > 60 * settings.max_minutes
        stopped = StopReason.TIME_LIMIT if out_of_time else None
        validated = bool(self.valid_features) and bool(
            (settings.eval_steps and progress.step % settings.eval_steps == 0) or epoch_end
            or progress.step == total or out_of_time)
        if validated:
            stopped = self._keep_best(self.validate()) or stopped
        # a signal stops the run here, after the step's own validation, so `--resume` continues exactly;
        # one process re-reads the flag (a signal during validation counts), ranks use the agreed value
        signalled = result.signalled or (self.process.world == 1 and self.stop_signal.signum is not None)
        if stopped is None and progress.step < total and signalled:
            stopped = StopReason.INTERRUPTED
        periodic = settings.save_steps and progress.step % settings.save_steps == 0 and not result.nonfinite
        if validated or stopped or progress.step == total or periodic:  # no periodic save mid skip-streak
            self.save(self.last_dir, with_state=True)
        return stopped

    def validate(self) -> float:
        """Run the validation set, log its metrics, return the tracked one (--metric)."""
        metrics = self.validation_metrics()
        self.logger.write({"event": "valid", "step": self.progress.step, "epoch": self.progress.epoch, **metrics})
        return metrics[self.cfg.run.metric]

    @torch.no_grad()
    def validation_metrics(self) -> dict[str, float]:
        """Validation loss per target token (and token accuracy) over the whole validation set, summed over ranks."""
        model, rank, world = self.plain_model, self.process.rank, self.process.world
        was_training = model.training
        model.eval()
        loss_sum = tokens = correct = 0.0
        for i, indices in enumerate(self.valid_batches, 1):
            batch = batching.collate(self.format, self.valid_features, *batching.shard(indices, rank, world))
            with self._autocast():
                logits, labels = logits_and_labels(model, self.format, self._to_device(batch), self.target_only)
            batch_loss, batch_tokens = self.loss_fn(logits, labels)
            loss_sum, tokens = loss_sum + float(batch_loss), tokens + int(batch_tokens)
            correct += int(((logits.argmax(-1) == labels) & (labels != batching.IGNORE)).sum())
            pause_point(f"valid{self.progress.step}:batch{i}")
        model.train(was_training)
        loss_sum, tokens, correct = distributed.sum_([loss_sum, tokens, correct], self.process)
        loss = loss_sum / max(tokens, 1)
        return {"valid_loss": loss, "valid_ppl": math.exp(min(loss, 50.0)), "valid_accuracy": correct / max(tokens, 1)}

    def _keep_best(self, metric: float) -> StopReason | None:
        """best/ on a better metric; early stopping after `patience` validations without one."""
        progress, patience = self.progress, self.cfg.run.early_stopping_patience
        higher = METRICS[self.cfg.run.metric] == "max"
        best = progress.best_metric
        if best is None or (metric > best if higher else metric < best):
            progress.best_metric, progress.best_step, progress.bad_evals = metric, progress.step, 0
            self.save(self.best_dir, with_state=False)
            return None
        progress.bad_evals += 1
        return StopReason.EARLY_STOPPING if patience and progress.bad_evals >= patience else None

    def epoch_batches(self, epoch: int) -> list[list[int]]:
        """A global micro-batch is batch_size × world examples; each rank takes its slice."""
        data, world = self.cfg.data, self.process.world
        return batching.make_batches(self.train_lengths, data.batch_size * world, max_tokens=data.max_tokens * world,
                                     group_by_length=data.group_by_length, seed=self.cfg.run.seed, epoch=epoch)

    # ---- checkpoints ----------------------------------------------------------------------------------------------
    def save(self, directory: Path, with_state: bool) -> None:
        """All ranks (FSDP gathers the weights); rank 0 writes; every rank stops on a failed write. Under --fsdp,
        last/ is DCP shards instead (distributed/sharded.py): every rank writes its own, nothing is gathered."""
        process, point, error = self.process, f"save:{directory.name}:{self.progress.step}", None
        saved_json = {**self.progress.to_json(), checkpoint.DATA_KEY: self.data_sha256}  # --resume checks the data
        pause_point(f"{point}:begin")  # every rank (only rank 0 passes the others)
        if with_state and self.cfg.dist.fsdp:
            if distributed.any_(not sharded.local_finite(self.model), process):  # as checkpoint.save refuses them
                raise checkpoint.NonFiniteWeightsError(f"refusing to save non-finite weights to {directory}")
            small_state = self._small_state()
            try:
                sharded.save(directory, self.model, self.optimizer, lambda tmp: checkpoint.write_beside_shards(
                    tmp, self.plain_model, self.loaded.tokenizer, self.cfg, saved_json, small_state, point),
                    process, point)
            except Exception as e:  # OSError, DCP's CheckpointException (any rank's failed write), torch.save's
                error = checkpoint.write_error(directory, e)
        else:
            weights, optimizer_state = distributed.state_for_save(self.model, self.optimizer, with_state)
            if process.is_main:
                tensors = {"optimizer": optimizer_state, **self._small_state()} if with_state else None
                try:
                    if not (with_state or self.wrote_last):  # a best/ before the run's first last/: not finished
                        checkpoint.mark_no_last_yet(directory.parent)
                    checkpoint.save(directory, self.plain_model, self.loaded.tokenizer, self.cfg, saved_json, tensors,
                                    weights, point=point)
                except checkpoint.CheckpointWriteError as e:
                    error = e
        if distributed.any_(error is not None, process):  # doubles as the barrier
            raise error or checkpoint.CheckpointWriteError(f"another rank could not write {directory}")
        if with_state:
            if process.is_main:
                checkpoint.saved_last(directory.parent)
            self.wrote_last = True

    def _small_state(self) -> dict[str, Any]:
        """trainer_state.pt beside the weights and optimiser: scheduler, scaler, RNG, and the world size it ran on."""
        return {"scheduler": self.scheduler.state_dict(), "scaler": self.scaler.state_dict(),
                "rng": checkpoint.rng_state(), "world": self.process.world}

    def _log_start(self) -> None:
        """What is about to run, above the progress bar (and where a resume continues)."""
        if self.resume:
            self.logger.message(f"resumed from {self.last_dir} at step {self.progress.step} of {self.total_steps}")
        self.logger.message(f"{self.loaded.path} ({self.format.kind}, task {self.cfg.model.task}, precision "
                            f"{self.precision}, world {self.process.world}, "
                            f"{describe(self.cfg.run.threads, self.threads)}): {len(self.train_features)} train / "
                            f"{len(self.valid_features)} valid examples, {self.total_steps} steps")

    # ---- set-up (each returns what it builds; __init__ keeps it) -------------------------------------------------
    def _prepare_output_dir(self, out: Path) -> bool:
        """Recover what a killed run left half-done, refuse to replace a finished run, clear it on --overwrite;
        returns whether this run resumes from last/ (a damaged last/, or one of another model or data, is an
        error)."""
        cfg, process = self.cfg, self.process
        if process.is_main:  # under the lock
            checkpoint.recover(self.last_dir)
            checkpoint.recover(self.best_dir)
        distributed.barrier(process)
        checkpoint.check_output_dir(out, cfg.run.resume, cfg.run.overwrite)  # never replace a finished run silently
        resume = cfg.run.resume and checkpoint.resumable(self.last_dir)
        if resume:  # the same model and data as the saved run, or an error naming the setting
            checkpoint.check_resume(self.last_dir, cfg, self.data_sha256)
        if cfg.run.resume and not resume and process.is_main:
            log.warning("--resume: no %s yet, starting from the beginning", self.last_dir)
        if cfg.run.overwrite and process.is_main:
            checkpoint.remove_run(out)
        distributed.barrier(process)
        return resume

    def _load_model_and_data(self, out: Path, data: tuple[list[Example], list[Example]]
                             ) -> tuple[trainable_model.Loaded, list[dict], list[dict]]:
        """(model, tokenizer and format; train and valid features). Rank 0 builds tiny models and the tokenisation
        cache first; the others then find them ready."""
        cfg, process = self.cfg, self.process
        train_examples, valid_examples = data
        if not process.is_main:
            distributed.barrier(process)
        texts = [t for ex in train_examples for t in (ex.source, ex.input, ex.target) if t]
        # a sharded last/ (--fsdp) is read after wrapping (_restore): the model is built as at the start
        from_last = self.resume and not sharded.is_sharded_dir(self.last_dir)
        loaded = trainable_model.build(cfg, texts, out, weights_from=self.last_dir if from_last else None)
        settings = trainable_model.format_settings(cfg, loaded.kind)
        cache, valid_file = out / "cache", cfg.data.valid_file or cfg.data.train_file
        train_keys, valid_keys = split_keys(cfg)  # valid_size: both parts come from the training file
        train_features = batching.encode_cached(train_examples, loaded.format, cfg.data.train_file, cache,
                                                {**settings, **train_keys})
        valid_features = (batching.encode_cached(valid_examples, loaded.format, valid_file, cache,
                                                 {**settings, **valid_keys}) if valid_examples else [])
        train_features = self._without_cut_answers(loaded.format, train_examples, train_features, cfg.data.train_file)
        valid_features = self._without_cut_answers(loaded.format, valid_examples, valid_features, valid_file)
        if process.is_main:
            distributed.barrier(process)
        return loaded, train_features, valid_features

    def _without_cut_answers(self, sequence_format: SequenceFormat, examples: Sequence[Example],
                             features: list[dict], path: str | Path) -> list[dict]:
        """Features of the records whose <hl> answer survives max_source_len: a question about an answer the model
        cannot see teaches it to invent one, so such records are skipped, counted and reported (an error when none
        is left)."""
        cuts = answer_cuts(sequence_format, examples, [sequence_format.kept_prompt(f) for f in features])
        if not cuts:
            return features
        note = cut_note(examples, cuts, sequence_format)
        name = sequence_format.length_limit[0]
        flag = "--" + name.replace("_", "-")
        if len(cuts) == len(features):
            raise QgenInputError(f"all {note}: raise {flag}", path=path, field=name)
        if self.process.is_main:
            log.warning("%s: %s; skipped (raise %s to keep them)", path, note, flag)
        dropped = set(cuts)
        return [f for i, f in enumerate(features) if i not in dropped]

    def _place_model(self) -> torch.nn.Module:
        """The model on its device, with the run's CPU / fp16 adjustments, wrapped for DDP / FSDP and compiled."""
        cfg, device, model = self.cfg, self.process.device, self.loaded.model
        if device.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = cfg.model.tf32
        model.to(device)
        if cfg.run.fast_dropout and device.type == "cpu" and not cfg.run.compile:  # compile fuses torch's dropout
            trainable_model.use_fast_dropout(model)
        if self.precision == "fp16":
            precision.keep_t5_ffn_in_fp32(model, device)
        if cfg.data.pack:
            packing.check(model, self.format.kind)  # tries a packed pair; refuses a model that would mix them
        wrapped = distributed.wrap(model, self.process, cfg.dist.fsdp)
        if cfg.run.compile:  # in place: the module (its state dict, saving) stays the same object
            wrapped.compile(dynamic=True)
        return wrapped

    def _count_steps(self) -> int:
        """Optimiser steps of the whole run: --max-steps, else --epochs (a fraction: part of the last epoch)."""
        optim = self.cfg.optim
        if optim.max_steps:
            return max(optim.max_steps, 1)
        whole = int(optim.epochs)
        steps = sum(self._steps_per_epoch(e) for e in range(whole))
        return max(steps + int((optim.epochs % 1) * self._steps_per_epoch(whole)), 1)

    def _steps_per_epoch(self, epoch: int) -> int:
        """Optimiser steps in one epoch (its micro-batches / grad_accum, rounded up)."""
        return math.ceil(len(self.epoch_batches(epoch)) / self.cfg.optim.grad_accum)

    def _restore(self) -> TrainState:
        """--resume: optimiser, scheduler, scaler and RNG as last/ saved them; returns its TrainState."""
        tensors, saved_json = checkpoint.load_state(self.last_dir)
        progress = TrainState.from_json(saved_json)
        if progress.step > self.total_steps:  # the run would end at once, its saved steps past the new end
            optim = self.cfg.optim
            name, value = ("max_steps", optim.max_steps) if optim.max_steps else ("epochs", optim.epochs)
            raise QgenInputError(f"--resume continues {self.last_dir} saved at step {progress.step}, but {name} "
                                 f"{value} ends the run at step {self.total_steps}: give more", field=name)
        if sharded.is_sharded_dir(self.last_dir):  # weights and optimiser, resharded to this world size
            sharded.load(self.last_dir, self.model, self.optimizer)
        else:
            distributed.load_optimizer_state(self.model, self.optimizer, tensors["optimizer"])
        if tensors.get("world", self.process.world) != self.process.world and self.process.is_main:
            log.warning("resuming %s on %d processes (saved on %d): the data order continues exactly only if the "
                        "global batch (--batch-size × processes) is the same", self.last_dir, self.process.world,
                        tensors["world"])
        self.scheduler.load_state_dict(tensors["scheduler"])
        self.scaler.load_state_dict(tensors["scaler"])
        checkpoint.set_rng_state(tensors["rng"])
        return progress
