"""Flags derived from a settings dataclass (TrainConfig's groups, GenerationSettings, QuizSettings, ServeSettings): the
dataclass is the one place for each default, type, help text, choice and check, and every command's flags follow it.

A field `max_new_tokens: int = 64` becomes `--max-new-tokens N` with that default. Its help is its metadata `help`,
else the docstring written under it (as LitGPT's argument dataclasses document their fields); metadata may also give
a shown default instead of the value (`shown`, for a default decided in `__post_init__`), `choices` and the argument
group (`group`). A `Literal[...]` field takes one of its values (argparse `choices`). A field without a default is a
required flag; `bool` is a switch (`store_true`; `--x / --no-x` when it defaults to True); `bool | None` is
`--flag true|false` (unset: None); `list[X]` takes one or more values. Checks stay in the dataclass's
`__post_init__`: `from_args` builds it and lets its ValueError through for the command to report.

`overrides=True` derives flags that override settings read from elsewhere (train.py's `--config FILE.yaml`): only
flags given reach the namespace, every bool has `--no-x`, a list may be given empty, and values stay strings for the
dataclass's own coercion and checks, so a bad value or choice is the same one `error:` line naming the field as in
the file.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import textwrap
import types
import typing
from typing import Any, Literal


def _unwrap(kind: Any) -> tuple[Any, bool]:
    """(X, True) for `X | None`, else (kind, False)."""
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        rest = [k for k in typing.get_args(kind) if k is not type(None)]
        if len(rest) == 1:
            return rest[0], True
    return kind, False


def _tristate(kind: Any) -> bool:
    return _unwrap(kind) == (bool, True)


def field_docs(cls: type) -> dict[str, str]:
    """The docstring under each field of `cls` (and of its dataclass bases), by field name; {} without source."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        except (OSError, TypeError, SyntaxError):  # a built-in, or no source file: no docstrings to read
            continue
        body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
        for node, after in zip(body, body[1:]):
            if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and isinstance(after, ast.Expr)
                    and isinstance(after.value, ast.Constant) and isinstance(after.value.value, str)):
                docs[node.target.id] = " ".join(after.value.value.split())
    return docs


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    return f.default_factory() if f.default_factory is not dataclasses.MISSING else dataclasses.MISSING


def add_dataclass_args(parser: argparse.ArgumentParser, cls: type, *, title: str | None = None,
                       aliases: bool = False, metavars: dict | None = None, overrides: bool = False) -> None:
    """One flag per field of `cls` on `parser` (in a group `title` when given; a field's metadata `group` puts it in
    that group instead). `aliases`: `--max_new_tokens` is accepted too. `metavars`: {int: "N", …}. `overrides`: see
    the module docstring."""
    target: Any = parser.add_argument_group(title) if title else parser
    groups: dict[str, Any] = {}  # metadata group name -> its argument group
    kinds = typing.get_type_hints(cls)
    docs = field_docs(cls)
    for f in dataclasses.fields(cls):
        meta = f.metadata
        group = target
        if meta.get("group"):
            if meta["group"] not in groups:
                groups[meta["group"]] = parser.add_argument_group(meta["group"])
            group = groups[meta["group"]]
        flags = ["--" + f.name.replace("_", "-")] + (["--" + f.name] if aliases and "_" in f.name else [])
        kw = _flag(f, kinds[f.name], meta.get("help", docs.get(f.name)), metavars or {}, overrides)
        group.add_argument(*flags, **kw)


def _flag(f: dataclasses.Field, hint: Any, help_: str | None, metavars: dict, overrides: bool) -> dict[str, Any]:
    """add_argument's keyword arguments for field `f` of type `hint`."""
    meta, default = f.metadata, _default(f)
    kind, _ = _unwrap(hint)
    literal = typing.get_args(kind) if typing.get_origin(kind) is Literal else ()
    choices = literal or meta.get("choices")
    kw: dict[str, Any] = {"help": help_}
    if overrides:  # only the flags given override; the help still shows the default
        kw.update(default=argparse.SUPPRESS, help=f"{help_} (default: {default!r})")
        if kind is bool:
            return {**kw, "action": argparse.BooleanOptionalAction}
        if typing.get_origin(kind) is list:
            return {**kw, "nargs": "*"}
        metavar = "{" + ",".join(map(str, choices)) + "}" if choices else getattr(kind, "__name__", "str").upper()
        return {**kw, "type": str, "metavar": metavar}
    if meta.get("shown"):  # `%(default).0s` prints nothing and stops the formatter appending "(default: None)"
        kw["help"] = f"{help_} (default: {meta['shown']})%(default).0s"
    if choices:
        kw["choices"] = choices
    if default is dataclasses.MISSING:
        kw["required"] = True
    elif f.default is not dataclasses.MISSING:
        kw["default"] = f.default
    if kind is bool and not _tristate(hint):
        return {**kw, "action": argparse.BooleanOptionalAction if default is True else "store_true"}
    if _tristate(hint):
        kw.setdefault("choices", ("true", "false"))
    elif typing.get_origin(kind) is list:
        kw.update(nargs="+", type=typing.get_args(kind)[0])
    else:
        kw["type"] = type(literal[0]) if literal else kind
        if kind in metavars:
            kw["metavar"] = metavars[kind]
    return kw


def from_args(cls: type, args: argparse.Namespace) -> Any:
    """`cls` built from the parsed flags (its `__post_init__` checks them: ValueError with the reason)."""
    kinds = typing.get_type_hints(cls)
    values = {}
    for f in dataclasses.fields(cls):
        value = getattr(args, f.name)
        if _tristate(kinds[f.name]) and isinstance(value, str):
            value = value == "true"
        values[f.name] = value
    return cls(**values)
