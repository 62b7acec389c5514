"""Where a model name points: a local directory, or — only for a name that cannot be a path — a hub repository.

transformers sends every name that is not an existing directory to the hub, so a mistyped local path
(`runs/aqg/bset`) would end in the hub's "Repo id must be in the form 'repo_name' or 'namespace/repo_name'". Here a
name that looks like a path must be an existing directory; only `name` or `org/name` may go to the hub.
"""

from __future__ import annotations

from pathlib import Path

from qgen.core.errors import PathArg, QgenInputError


def looks_like_path(name: str) -> bool:
    """True unless `name` can only be a hub id: `./x`, `/x`, `~/x`, `a/b/c`, `x/` and invalid repo ids are paths, and
    so is `runs/x` when the folder `runs/` is here."""
    if name.startswith(("/", ".", "~")) or name.endswith("/") or "\\" in name:
        return True
    parts = name.split("/")
    if len(parts) > 2 or (len(parts) == 2 and Path(parts[0]).is_dir()):
        return True
    from huggingface_hub.utils import HFValidationError, validate_repo_id  # ~0.1 s: only for names a hub id may be

    try:
        validate_repo_id(name)
    except HFValidationError:
        return True
    return False


def check_model_location(name: PathArg, field: str = "model") -> None:
    """QgenInputError unless `name` is an existing directory or could be a hub id (built-in names are hub-like)."""
    path = Path(str(name)).expanduser()
    if path.is_dir():
        return
    if path.exists():
        raise QgenInputError("is a file, expected a model directory (config.json, weights, tokenizer)", path=name,
                             field=field)
    if looks_like_path(str(name)):
        raise QgenInputError("model directory not found (a name with a path in it is read from disk; only a plain "
                             "'name' or 'org/name' is looked up on the hub)", path=name, field=field)
