"""Flags derived from a library settings dataclass (GenerationSettings, QuizSettings): the dataclass is the one place
for each default, type, help text and check, and the command line follows it.

A field `max_new_tokens: int = 64` becomes `--max-new-tokens N` with that default; its metadata gives the help
(`help`), a shown default instead of the value (`shown`, for a default decided in `__post_init__`), `choices` and
the argument group (`group`). A field without a default is a required flag; `bool` is a switch (`store_true`);
`bool | None` is `--flag true|false` (unset: None); `list[X]` takes one or more values. Checks stay in the
dataclass's `__post_init__`: `from_args` builds it and lets its ValueError through for the command to report.
(The training config has its own derivation in qgen.cli.train: flags there override a YAML file.)
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing


def _unwrap(kind) -> tuple[object, bool]:
    """(X, True) for `X | None`, else (kind, False)."""
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        rest = [k for k in typing.get_args(kind) if k is not type(None)]
        if len(rest) == 1:
            return rest[0], True
    return kind, False


def _tristate(kind) -> bool:
    return _unwrap(kind) == (bool, True)


def add_dataclass_args(parser: argparse.ArgumentParser, cls, *, title: str | None = None, aliases: bool = False,
                       metavars: dict | None = None) -> None:
    """One flag per field of `cls` on `parser` (in a group `title` when given; a field's metadata `group` puts it in
    that group instead). `aliases`: `--max_new_tokens` is accepted too. `metavars`: {int: "N", …}."""
    target = parser.add_argument_group(title) if title else parser
    groups: dict = {}  # metadata group name -> its argument group
    kinds = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        meta = f.metadata
        group = target
        if meta.get("group"):
            if meta["group"] not in groups:
                groups[meta["group"]] = parser.add_argument_group(meta["group"])
            group = groups[meta["group"]]
        flags = ["--" + f.name.replace("_", "-")] + (["--" + f.name] if aliases and "_" in f.name else [])
        kw: dict = {"help": meta["help"]}
        if meta.get("shown"):  # `%(default).0s` prints nothing and stops the formatter appending "(default: None)"
            kw["help"] += f" (default: {meta['shown']})%(default).0s"
        if "choices" in meta:
            kw["choices"] = meta["choices"]
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            kw["required"] = True
        elif f.default is not dataclasses.MISSING:
            kw["default"] = f.default
        kind, _ = _unwrap(kinds[f.name])
        if kind is bool and not _tristate(kinds[f.name]):
            group.add_argument(*flags, action="store_true", **kw)
            continue
        if _tristate(kinds[f.name]):
            kw.setdefault("choices", ("true", "false"))
        elif typing.get_origin(kind) is list:
            kw.update(nargs="+", type=typing.get_args(kind)[0])
        else:
            kw["type"] = kind
            if metavars and kind in metavars:
                kw["metavar"] = metavars[kind]
        group.add_argument(*flags, **kw)


def from_args(cls, args: argparse.Namespace):
    """`cls` built from the parsed flags (its `__post_init__` checks them: ValueError with the reason)."""
    kinds = typing.get_type_hints(cls)
    values = {}
    for f in dataclasses.fields(cls):
        value = getattr(args, f.name)
        if _tristate(kinds[f.name]) and isinstance(value, str):
            value = value == "true"
        values[f.name] = value
    return cls(**values)
