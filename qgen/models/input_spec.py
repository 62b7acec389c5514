"""`InputSpec`: how training built a model's inputs, all that inference needs of the training config.

Saved as `input_spec.json` beside `qgen_config.yaml` (the whole training config) in every directory qgen writes a
config to — `best/`, `last/`, LoRA adapters, merged and exported models — in the same atomic write. Inference reads
it and never the training config. A directory written before it existed (only `qgen_config.yaml`, e.g. the shipped
qgen/models/pretrained/qgen-small-ja) gives the same spec from that file's keys, read as plain YAML.

Not in it: the model kind (seq2seq / causal) is the model's own `config.json`, so the two cannot disagree; the added
special tokens are in the saved tokenizer. The defaults are training's (`ModelArgs` takes them from here), and apply
to a model qgen did not train.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qgen.core import yaml_file
from qgen.core.constants import SAVED_NAME
from qgen.core.errors import PathArg, QgenInputError
from qgen.core.files import write_json
from qgen.core.text import LANGS
from qgen.core.values import MAX_TOKENS, check_range, coerce

INPUT_SPEC_NAME = "input_spec.json"
CONTEXT_WINDOWS = ("full", "sentence")  # what inference can rebuild from a paragraph (qgen.data.jsquad.window_source)


@dataclass
class InputSpec:
    """The settings that shape a model's inputs, saved with it so inference builds them as training did."""

    task: str = "auto"  # aqg | aqg_hl | qa | quiz | lm (the checkpoint's task; "auto" only for models qgen did not train)
    lang: str = "ja"  # normalisation language: ja | ko | en
    prompt_format: str = "auto"  # causal models' prompt format
    max_source_len: int = 512  # seq2seq: source tokens kept
    max_target_len: int = 64  # seq2seq: target tokens kept
    max_len: int = 512  # causal: prompt + target tokens kept (the prompt cut from the left)
    trust_remote_code: bool = False  # the model's code came from the hub and was trusted in training
    # the context aqg / aqg_hl training inputs held: "full" paragraph or the answer's "sentence"
    # (prepare_jsquad.py --context-window); predict.py / generate.py cut a paragraph input to it
    context_window: str = "full"

    def __post_init__(self) -> None:
        for name, kind in _TYPES.items():
            if type(getattr(self, name)) is not kind:  # exactly: True is not an int length here
                raise TypeError(f"InputSpec.{name}: expected {kind.__name__}, got {getattr(self, name)!r}")
        for name, low in (("max_source_len", 1), ("max_target_len", 1), ("max_len", 2)):
            check_range(name, getattr(self, name), low, MAX_TOKENS)
        if self.lang not in LANGS:
            raise ValueError(f"lang: expected one of {', '.join(LANGS)}, got {self.lang!r}")
        if self.context_window not in CONTEXT_WINDOWS:
            raise ValueError(f"context_window: expected one of {', '.join(CONTEXT_WINDOWS)}, got {self.context_window!r}")

    def to_dict(self) -> dict[str, Any]:
        """Plain values, as input_spec.json holds them."""
        return dataclasses.asdict(self)

    def save(self, directory: PathArg) -> None:
        """Write input_spec.json into a checkpoint directory, so inference never needs the training config."""
        write_json(Path(directory) / INPUT_SPEC_NAME, self.to_dict())


_TYPES = typing.get_type_hints(InputSpec)


def _apply(values: dict, data: dict, path: Path, *, strict: bool) -> None:
    """The spec's keys of `data` into `values`, coerced; a nested mapping is a settings group (`model: {…}`).
    `strict`: any other key is an error (input_spec.json), else ignored (the rest of a training config)."""
    for key, value in data.items():
        name = str(key).replace("-", "_")
        if name not in _TYPES:
            if isinstance(value, dict) and not strict:
                _apply(values, value, path, strict=False)
            elif strict:
                raise QgenInputError("unknown setting", path=path, field=name)
            continue
        try:
            values[name] = coerce(value, _TYPES[name])
        except (TypeError, ValueError):
            raise QgenInputError(f"expected {_TYPES[name].__name__}, got {value!r}", path=path, field=name) from None


def _read_mapping(path: Path, parse: Callable[[str], object]) -> dict:
    try:
        data = parse(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        raise QgenInputError(f"unreadable: {e}", path=path) from None
    except json.JSONDecodeError as e:
        raise QgenInputError(f"malformed JSON: {e}", path=path) from None
    except RecursionError:
        raise QgenInputError("malformed: nested too deeply", path=path) from None
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise QgenInputError(f"expected a mapping of settings, got {type(data).__name__}", path=path)
    return data


def read_input_spec(directory: PathArg) -> InputSpec | None:
    """The spec saved in a checkpoint directory: `input_spec.json`, else derived from `qgen_config.yaml` (a
    checkpoint written before input_spec.json); None when it has neither. A bad file is a QgenInputError naming it."""
    directory = Path(directory)
    values: dict = {}
    if (directory / INPUT_SPEC_NAME).is_file():
        path = directory / INPUT_SPEC_NAME
        _apply(values, _read_mapping(path, json.loads), path, strict=True)
    elif (directory / SAVED_NAME).is_file():
        path = directory / SAVED_NAME
        _apply(values, _read_mapping(path, lambda text: yaml_file.load(text, path)), path, strict=False)
    else:
        return None
    try:
        return InputSpec(**values)
    except ValueError as e:  # a value out of range: named with the file it came from
        name, _, reason = str(e).partition(": ")
        raise QgenInputError(reason, path=path, field=name) from None
