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
and `save:{best,last}:N:{begin,tmpdir,weights,state,swap,swapped}` for the checkpoint written after step N (a
sharded last/, `--fsdp`: `begin`, `tmpdir`, `shards` on every rank, `state`, `swap`, `swapped`).
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from pathlib import Path

import torch

from qgen.core.errors import QgenInputError
from qgen.core.files import pause_point
from qgen.core.threads import describe
from qgen.data.download import sha256_file
from qgen.models.formats.seq2seq import answer_cuts, cut_note
from qgen.models.threads import set_threads
from qgen.training import batching, checkpoint, losses, packing, precision, schedule, trainable_model
from qgen.training.config import METRICS
from qgen.training.distributed import ddp as distributed
from qgen.training.distributed import sharded
from qgen.training.guards import StopOnSignal, TrainingDiverged, TrainingInterrupted, output_lock  # noqa: F401
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
from qgen.training.step import evaluate, train_step  # noqa: F401  (also imported from here)

log = logging.getLogger(__name__)


def train(config) -> dict:
    """Train from a TrainConfig, dict or YAML path; returns the summary (best step/metric, where best/ is)."""
    cfg = as_config(config)
    distributed.resume_on_restart(cfg.run)
    cfg.check()  # every setting, the data files and the model's path, before anything is read or written
    check_run_outputs(cfg)  # a data file inside best/, last/ … would be replaced by the run
    data = read_data(cfg)  # bad data is reported before anything is written
    if cfg.model.task == "auto":
        cfg.model.task = guess_task(data[0], cfg.data.train_file)
    info = distributed.init(timeout_s=cfg.dist.dist_timeout)
    try:
        with (distributed.timeouts_as_errors(info, cfg.dist.dist_timeout, Path(cfg.run.output_dir) / "last"),
              output_lock(Path(cfg.run.output_dir), info), StopOnSignal() as stop_signal):
            return _train(cfg, info, data, stop_signal)
    finally:
        distributed.cleanup()


class _Run:
    """One training run, set up: the model, data, optimiser and the TrainState the loop advances."""

    def __init__(self, cfg, info, data, stop_signal: StopOnSignal):
        self.cfg, self.info, self.stop_signal = cfg, info, stop_signal
        out = Path(cfg.run.output_dir)
        self.last_dir, self.best_dir = out / "last", out / "best"
        if info.is_main:  # under the lock: whatever a killed run left half-done goes
            checkpoint.recover(self.last_dir)
            checkpoint.recover(self.best_dir)
        distributed.barrier(info)
        checkpoint.check_output_dir(out, cfg.run.resume, cfg.run.overwrite)  # never replace a finished run silently
        self.resume = cfg.run.resume and checkpoint.resumable(self.last_dir)  # a damaged last/ is an error
        self.data_sha256 = sha256_file(cfg.data.train_file)
        if self.resume:  # the same model and data as the saved run, or an error naming the setting
            checkpoint.check_resume(self.last_dir, cfg, self.data_sha256)
        if cfg.run.resume and not self.resume and info.is_main:
            log.warning("--resume: no %s yet, starting from the beginning", self.last_dir)
        if cfg.run.overwrite and info.is_main:
            checkpoint.remove_run(out)
        distributed.barrier(info)
        self.wrote_last = self.resume  # until this run's first last/, a best/ it writes is marked as unfinished
        seed_everything(cfg.run.seed)
        self.threads = set_threads(cfg.run.threads)  # 0: from the machine's load (qgen.core.threads)
        self._load_model_and_data(out, data)
        self._place_model()
        self._make_optimizer()
        self.state = TrainState()
        if self.resume:
            self._restore()
        self.logger = RunLogger(out, info.is_main, self.total, self.state.step, time_limit_s=60 * cfg.run.max_minutes)
        if self.resume:
            self.logger.message(f"resumed from {self.last_dir} at step {self.state.step} of {self.total}")
        self.logger.message(f"{self.loaded.path} ({self.loaded.kind}, task {cfg.model.task}, precision {self.prec}, "
                            f"world {info.world}, {describe(cfg.run.threads, self.threads)}): {len(self.feats)} train / "
                            f"{len(self.vfeats)} valid examples, {self.total} steps")

    def _load_model_and_data(self, out: Path, data) -> None:
        """Rank 0 builds tiny models and the tokenisation cache first; the others then find them ready."""
        cfg, info = self.cfg, self.info
        train_ex, valid_ex = data
        if not info.is_main:
            distributed.barrier(info)
        texts = [t for ex in train_ex for t in (ex.source, ex.input, ex.target) if t]
        # a sharded last/ (--fsdp) is read after wrapping (_restore): the model is built as at the start
        from_last = self.resume and not sharded.is_sharded_dir(self.last_dir)
        self.loaded = trainable_model.build(cfg, texts, out, weights_from=self.last_dir if from_last else None)
        self.adapter = self.loaded.adapter
        settings = trainable_model.adapter_settings(cfg, self.loaded.kind)
        cache = out / "cache"
        train_keys, valid_keys = split_keys(cfg)  # valid_size: both parts come from the training file
        self.feats = batching.encode_cached(train_ex, self.adapter, cfg.data.train_file, cache,
                                            {**settings, **train_keys})
        self.vfeats = (batching.encode_cached(valid_ex, self.adapter, cfg.data.valid_file or cfg.data.train_file,
                                              cache, {**settings, **valid_keys}) if valid_ex else [])
        self.feats = self._without_cut_answers(train_ex, self.feats, cfg.data.train_file)
        self.vfeats = self._without_cut_answers(valid_ex, self.vfeats, cfg.data.valid_file or cfg.data.train_file)
        if info.is_main:
            distributed.barrier(info)

    def _without_cut_answers(self, examples, features: list[dict], path) -> list[dict]:
        """Features of the records whose <hl> answer survives max_source_len: a question about an answer the model
        cannot see teaches it to invent one, so such records are skipped, counted and reported (an error when none
        is left)."""
        cuts = answer_cuts(self.adapter, examples, [self.adapter.kept_prompt(f) for f in features])
        if not cuts:
            return features
        note = cut_note(examples, cuts, self.adapter)
        name = self.adapter.length_limit[0]
        flag = "--" + name.replace("_", "-")
        if len(cuts) == len(features):
            raise QgenInputError(f"all {note}: raise {flag}", path=path, field=name)
        if self.info.is_main:
            log.warning("%s: %s; skipped (raise %s to keep them)", path, note, flag)
        dropped = set(cuts)
        return [f for i, f in enumerate(features) if i not in dropped]

    def _place_model(self) -> None:
        cfg, dev = self.cfg, self.info.device
        model = self.loaded.model
        if dev.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = cfg.model.tf32
        self.prec = precision.resolve(cfg.model.precision, dev, getattr(model.config, "model_type", ""))
        model.to(dev)
        if cfg.run.fast_dropout and dev.type == "cpu" and not cfg.run.compile:  # compile fuses torch's own dropout
            trainable_model.use_fast_dropout(model)
        if self.prec == "fp16":
            precision.keep_t5_ffn_in_fp32(model, dev)
        if cfg.data.pack:
            packing.check(model, self.loaded.kind)  # tries a packed pair; refuses a model that would mix them
        self.model = distributed.wrap(model, self.info, cfg.dist.fsdp)
        self.raw = distributed.unwrap(self.model)  # the plain model: validation and saving
        if cfg.run.compile:  # in place: the module (its state dict, saving) stays the same object
            self.model.compile(dynamic=True)
        self.loss_fn = losses.get(cfg.run.loss, label_smoothing=cfg.run.label_smoothing)

    def _make_optimizer(self) -> None:
        d, o, world = self.cfg.data, self.cfg.optim, self.info.world
        self.lens = batching.lengths(self.feats)
        total = o.max_steps or (sum(self.steps_per_epoch(e) for e in range(int(o.epochs)))
                                + int((o.epochs % 1) * self.steps_per_epoch(int(o.epochs))))
        self.total = max(total, 1)
        self.vbatches = (batching.eval_batches(batching.lengths(self.vfeats), d.valid_batch_size * world)
                         if self.vfeats else [])
        self.optimizer = schedule.make_optimizer(self.model, o, self.info.device)
        self.scheduler = schedule.make_scheduler(self.optimizer, o, self.total)
        self.scaler = precision.make_scaler(self.prec, self.info.device)

    def _restore(self) -> None:
        tensors, info = checkpoint.load_state(self.last_dir)
        self.state = TrainState.from_json(info)
        if self.state.step > self.total:  # the run would end at once, its saved steps past the new end
            o = self.cfg.optim
            name, value = ("max_steps", o.max_steps) if o.max_steps else ("epochs", o.epochs)
            raise QgenInputError(f"--resume continues {self.last_dir} saved at step {self.state.step}, but {name} "
                                 f"{value} ends the run at step {self.total}: give more", field=name)
        if sharded.is_sharded_dir(self.last_dir):  # weights and optimiser, resharded to this world size
            sharded.load(self.last_dir, self.model, self.optimizer)
        else:
            distributed.load_optimizer_state(self.model, self.optimizer, tensors["optimizer"])
        if tensors.get("world", self.info.world) != self.info.world and self.info.is_main:
            log.warning("resuming %s on %d processes (saved on %d): the data order continues exactly only if the "
                        "global batch (--batch-size × processes) is the same", self.last_dir, self.info.world,
                        tensors["world"])
        self.scheduler.load_state_dict(tensors["scheduler"])
        self.scaler.load_state_dict(tensors["scaler"])
        checkpoint.set_rng_state(tensors["rng"])

    def epoch_batches(self, epoch: int) -> list:
        """A global micro-batch is batch_size × world examples; each rank takes its slice."""
        d, world = self.cfg.data, self.info.world
        return batching.make_batches(self.lens, d.batch_size * world, max_tokens=d.max_tokens * world,
                                     group_by_length=d.group_by_length, seed=self.cfg.run.seed, epoch=epoch)

    def steps_per_epoch(self, epoch: int) -> int:
        return math.ceil(len(self.epoch_batches(epoch)) / self.cfg.optim.grad_accum)

    def save(self, directory: Path, with_state: bool) -> None:
        """All ranks (FSDP gathers the weights); rank 0 writes; every rank stops on a failed write. Under --fsdp,
        last/ is DCP shards instead (distributed/sharded.py): every rank writes its own, nothing is gathered."""
        st, info = self.state, self.info
        point, error = f"save:{directory.name}:{st.step}", None
        saved_info = {**st.to_json(), checkpoint.DATA_KEY: self.data_sha256}  # the data fingerprint --resume checks
        pause_point(f"{point}:begin")  # every rank (only rank 0 passes the others)
        if with_state and self.cfg.dist.fsdp:
            if distributed.any_(not sharded.local_finite(self.model), info):  # as checkpoint.save refuses them
                raise checkpoint.NonFiniteWeightsError(f"refusing to save non-finite weights to {directory}")
            small = self._small_state()
            try:
                sharded.save(directory, self.model, self.optimizer, lambda tmp: checkpoint.write_beside_shards(
                    tmp, self.raw, self.loaded.tokenizer, self.cfg, saved_info, small, point), info, point)
            except Exception as e:  # OSError, DCP's CheckpointException (any rank's failed write), torch.save's
                error = checkpoint.write_error(directory, e)
        else:
            weights, optim_state = distributed.state_for_save(self.model, self.optimizer, with_state)
            if info.is_main:
                tensors = {"optimizer": optim_state, **self._small_state()} if with_state else None
                try:
                    if not (with_state or self.wrote_last):  # a best/ before the run's first last/: not finished
                        checkpoint.mark_no_last_yet(directory.parent)
                    checkpoint.save(directory, self.raw, self.loaded.tokenizer, self.cfg, saved_info, tensors,
                                    weights, point=point)
                except checkpoint.CheckpointWriteError as e:
                    error = e
        if distributed.any_(error is not None, info):  # doubles as the barrier
            raise error or checkpoint.CheckpointWriteError(f"another rank could not write {directory}")
        if with_state:
            if info.is_main:
                checkpoint.saved_last(directory.parent)
            self.wrote_last = True

    def _small_state(self) -> dict:
        """trainer_state.pt beside the weights and optimiser: scheduler, scaler, RNG, and the world size it ran on."""
        return {"scheduler": self.scheduler.state_dict(), "scaler": self.scaler.state_dict(),
                "rng": checkpoint.rng_state(), "world": self.info.world}

    def validate_now(self) -> float:
        """Validate, log it, return the tracked metric."""
        st = self.state
        metrics = evaluate(self.raw, self.adapter, self.vfeats, self.vbatches, self.loss_fn, self.info, self.prec,
                           point=f"valid{st.step}", target_only=self.cfg.run.target_logits)
        self.logger.write({"event": "valid", "step": st.step, "epoch": st.epoch, **metrics})
        return metrics[self.cfg.run.metric]

    def optimizer_step(self, batches: list) -> StepResult:
        """Forward/backward the step's micro-batches, unscale, clip, agree over ranks, then step or skip."""
        st, info, o, scaler = self.state, self.info, self.cfg.optim, self.scaler
        n, t_step = st.step + 1, time.perf_counter()
        torch.manual_seed(step_seed(self.cfg.run.seed, st.step, info.rank))
        todo = batches[st.batch : st.batch + o.grad_accum]
        micro = [batching.collate(self.adapter, self.feats, *batching.shard(b, info.rank, info.world),
                                  pack=self.cfg.data.pack) for b in todo]
        loss_sum, tokens, n_in = train_step(self.model, self.adapter, micro, self.loss_fn, info, self.prec, scaler,
                                            point=f"step{n}", target_only=self.cfg.run.target_logits)
        pause_point(f"step{n}:backward")
        scaler.unscale_(self.optimizer)
        gnorm = float(torch.nn.utils.clip_grad_norm_(self.model.parameters(), o.max_grad_norm or math.inf))
        # one all_reduce: the step's loss over all ranks, whether any rank saw a non-finite gradient norm, and
        # whether any rank was asked to stop (so all ranks stop after the same step)
        loss_sum, bad, signalled = distributed.sum_(
            [loss_sum, float(not math.isfinite(gnorm)), float(self.stop_signal.signum is not None)], info)
        nonfinite = bad != 0 or not math.isfinite(loss_sum)
        if nonfinite:  # skip: no optimiser/scheduler step; the scaler (fp16) lowers its scale
            st.skipped += 1
            st.consecutive_nonfinite += 1
            if scaler.is_enabled():
                scaler.update()
        else:
            scaler.step(self.optimizer)
            scaler.update()
            self.scheduler.step()
            st.consecutive_nonfinite = 0
        self.optimizer.zero_grad(set_to_none=True)
        pause_point(f"step{n}:optimizer")
        st.step += 1
        st.batch += len(todo)
        return StepResult(loss_sum, tokens, n_in, gnorm, nonfinite, bool(signalled), t_step)

    def after_validation(self, value: float) -> str | None:
        """best/ on a better metric; "early_stopping" after `patience` validations without one."""
        st, r = self.state, self.cfg.run
        higher = METRICS[r.metric] == "max"
        if st.best_metric is None or (value > st.best_metric if higher else value < st.best_metric):
            st.best_metric, st.best_step, st.bad_evals = value, st.step, 0
            self.save(self.best_dir, with_state=False)
            return None
        st.bad_evals += 1
        return "early_stopping" if r.early_stopping_patience and st.bad_evals >= r.early_stopping_patience else None

    def run_steps(self) -> str | None:
        """The loop; returns why it stopped (None: all steps done)."""
        st, r, total = self.state, self.cfg.run, self.total
        if self.vfeats and not self.resume:
            st.valid_start = self.validate_now()
        batches = self.epoch_batches(st.epoch)
        window, stop, started = LogWindow(), None, time.perf_counter()
        self.model.train()
        while st.step < total and stop is None:
            s = self.optimizer_step(batches)
            epoch_end = st.batch >= len(batches)
            if epoch_end:
                st.epoch, st.batch = st.epoch + 1, 0
                batches = self.epoch_batches(st.epoch)
            if s.nonfinite:
                self.logger.nonfinite(st, s)
                if st.consecutive_nonfinite >= r.max_nonfinite_steps:
                    return "nonfinite"
            window = self.logger.step(st, s, window, self.scheduler.get_last_lr()[0], r.log_steps, total)
            if r.compile and st.step == 1:
                self.logger.message(f"torch.compile: first step {time.perf_counter() - s.started:.1f} s (compiling "
                                    f"included); later shapes may compile again")
            pause_point(f"step{st.step}:end")
            stop = self.after_step(s, epoch_end, started)
        if not self.vfeats and stop != "interrupted":  # no validation: best/ is the final model
            st.best_step = st.step
            self.save(self.best_dir, with_state=False)
        return stop

    def after_step(self, s: StepResult, epoch_end: bool, started: float) -> str | None:
        """Validation, best/ and last/ after a step; returns why to stop now, if so."""
        st, r, total = self.state, self.cfg.run, self.total
        stop = "time_limit" if r.max_minutes and time.perf_counter() - started > 60 * r.max_minutes else None
        evaluated = bool(self.vfeats) and ((r.eval_steps and st.step % r.eval_steps == 0) or epoch_end
                                           or st.step == total or stop == "time_limit")
        if evaluated:
            stop = self.after_validation(self.validate_now()) or stop
        # a signal stops the run here, after the step's own validation, so `--resume` continues exactly;
        # one process re-reads the flag (a signal during validation counts), ranks use the agreed value
        if stop is None and st.step < total and (s.signalled or (self.info.world == 1 and self.stop_signal.signum)):
            stop = "interrupted"
        periodic = r.save_steps and st.step % r.save_steps == 0 and not s.nonfinite  # no save mid skip-streak
        if evaluated or stop or st.step == total or periodic:
            self.save(self.last_dir, with_state=True)
        return stop


def _train(cfg, info, data, stop_signal: StopOnSignal) -> dict:
    run = _Run(cfg, info, data, stop_signal)
    started = time.perf_counter()
    try:
        stop = run.run_steps()
    except BaseException:
        with contextlib.suppress(Exception):
            run.logger.close()  # release the files; the original error is the one to report
        raise
    run.logger.close()
    st, last_dir = run.state, run.last_dir
    if stop == "nonfinite":
        raise TrainingDiverged(f"{st.consecutive_nonfinite} consecutive non-finite steps (loss or gradient norm "
                               f"inf/nan) at step {st.step}; stopped. {last_dir} holds the last good state "
                               f"(lower --lr, use --precision fp32/bf16, or raise --max-nonfinite-steps)")
    if stop == "interrupted":
        raise TrainingInterrupted(stop_signal.signum, st.step, last_dir)
    return {"best_step": st.best_step, "best_metric": st.best_metric, "metric": cfg.run.metric,
            "valid_start": st.valid_start, "best_dir": str(run.best_dir), "last_dir": str(last_dir),
            "steps": st.step, "skipped_steps": st.skipped, "stopped": stop or "completed", "task": cfg.model.task,
            "precision": run.prec, "threads": run.threads, "train_seconds": round(time.perf_counter() - started, 1)}
