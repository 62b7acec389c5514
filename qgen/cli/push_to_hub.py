"""`qgen export --push-to-hub ORG/NAME`: upload a checkpoint (or the exported directory) with a model card.

The token comes from where huggingface_hub looks (HF_TOKEN, `hf auth login`'s file); the repository is created
private unless `--public`. Offline (HF_HUB_OFFLINE=1), without a token, or with the hub unreachable it stops with one
error line before any weights are read. The folder uploaded holds the model files (not the training state of
`last/`: trainer_state.*), the card (README.md, qgen.training.model_card) and the run's loss.png.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from qgen.core.errors import QgenInputError
from qgen.training.checkpoint import STATE_JSON, STATE_PT
from qgen.training.model_card import card_text, find_eval_metrics, run_dir

if TYPE_CHECKING:
    from huggingface_hub import HfApi  # only for --push-to-hub: its type is named here

NOT_UPLOADED = (STATE_PT, STATE_JSON, "README.md")  # training state stays local; the card is written anew


def _first_line(e: Exception) -> str:
    """The first line of an error's message (its type when it has none), for a one-line report."""
    return str(e).splitlines()[0] if str(e).strip() else type(e).__name__


def connect(repo_id: str, private: bool) -> tuple[HfApi, str]:
    """(HfApi, token) after the checks that need no weights: online, a token, the repository created or there."""
    import huggingface_hub  # only for --push-to-hub
    from huggingface_hub import constants

    if repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise QgenInputError(f"expected ORG/NAME, got {repo_id!r}", field="--push-to-hub")
    if constants.HF_HUB_OFFLINE:
        raise QgenInputError("--push-to-hub needs the network, but HF_HUB_OFFLINE is set; unset it and run again",
                             field="--push-to-hub")
    token = huggingface_hub.get_token()
    if not token:
        raise QgenInputError("no Hugging Face token: run `hf auth login` or set HF_TOKEN", field="--push-to-hub")
    api = huggingface_hub.HfApi()
    try:
        api.create_repo(repo_id, token=token, private=private, exist_ok=True)
    except Exception as e:  # HTTP errors, refused or unreachable hub: one line, nothing read yet
        raise QgenInputError(f"cannot create {repo_id} on the hub: {_first_line(e)}", field="--push-to-hub") from None
    return api, token


def stage(model_dir: Path, card: str, plot: Path | None, into: Path) -> None:
    """`into` = the model files of `model_dir` (hard links where possible), README.md = `card`, loss.png."""
    for f in model_dir.iterdir():
        if f.is_file() and f.name not in NOT_UPLOADED:
            try:
                os.link(f, into / f.name)
            except OSError:  # another file system: a copy
                shutil.copy2(f, into / f.name)
    (into / "README.md").write_text(card, encoding="utf-8")
    if plot is not None:
        shutil.copy2(plot, into / "loss.png")


def push(checkpoint: Path, model_dir: Path, repo_id: str, api: HfApi, token: str, eval_metrics: Path | None = None) -> str:
    """Upload `model_dir` (the checkpoint, or what export wrote from it) with the card of `checkpoint`'s run."""
    eval_metrics = eval_metrics or find_eval_metrics(checkpoint)
    loss_png = run_dir(checkpoint) / "loss.png"
    plot = loss_png if loss_png.is_file() else None
    card = card_text(checkpoint, repo_id, eval_metrics, has_plot=plot is not None)
    with tempfile.TemporaryDirectory(prefix="qgen-push-") as tmp:
        stage(model_dir, card, plot, Path(tmp))
        try:
            info = api.upload_folder(repo_id=repo_id, folder_path=tmp, token=token,
                                     commit_message=f"qgen export of {checkpoint}")
        except Exception as e:  # the upload itself failed: said in one line
            raise QgenInputError(f"upload to {repo_id} failed: {_first_line(e)}", field="--push-to-hub") from None
    return str(getattr(info, "commit_url", None) or f"https://huggingface.co/{repo_id}")
