"""A setting's value as its declared type, whether it came from YAML, JSON or the command line (always a string).

One rule for the training config, the saved `InputSpec` and every settings file: `"false"`/`"no"`/`"off"`/`"0"` are
False (not truthy strings); a list may be a comma-separated string, and its items must be non-empty strings (or
numbers), never lists; a string is never a list or mapping written out; an int refuses a float with a fraction (`3.5`).
And one rule for their ranges: no float setting is NaN or infinite (`check_finite`), and bounds are said alike.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from typing import Any, Literal

TRUE = ("true", "1", "yes", "on")
FALSE = ("false", "0", "no", "off")


def coerce(value: object, kind: Any) -> Any:
    """`value` as `kind` (bool, int, float, str or list[str]); ValueError / TypeError when it is not one."""
    if kind is bool:
        if isinstance(value, str):
            if value.lower() in TRUE:
                return True
            if value.lower() in FALSE:
                return False
            raise ValueError(value)
        return bool(value)
    if kind == list[str]:
        if isinstance(value, str):
            return [v for v in value.split(",") if v]
        if value is None:
            return []
        if not isinstance(value, (list, tuple)):
            raise TypeError(value)
        # each item a plain string (a number reads as its text): a nested list would become the token "['a', 'b']"
        if not all(isinstance(v, (str, int)) and not isinstance(v, bool) and str(v).strip() for v in value):
            raise TypeError(value)
        return [str(v) for v in value]
    if kind is int and isinstance(value, float) and not value.is_integer():
        raise ValueError(value)
    if kind is str and isinstance(value, (list, tuple, dict, set)):  # str(a list) is no name, path or language
        raise TypeError(value)
    return kind(value)


SEED_MAX = 2**32 - 1  # numpy's seeds are 32-bit; torch's wider, but one range for every seed of a run
MAX_TOKENS = 1 << 20  # no length setting (source, target, prompt, new tokens) may ask for more: beyond it a tokenizer
#                       overflows or a buffer of that many positions is allocated before the first token


def check_finite(obj: Any) -> None:
    """ValueError naming the first float field of dataclass `obj` that is NaN or infinite. A field may allow them
    with metadata `finite=False`; no field does today: NaN passes every `<` check, so it must be refused first."""
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if isinstance(value, float) and not math.isfinite(value) and f.metadata.get("finite", True):
            raise ValueError(f"{f.name}: must be a finite number, got {value}")


def check_choices(obj: Any) -> None:
    """ValueError `field: expected one of …, got …` for the first field of dataclass `obj` whose value is not one of
    its `Literal` type's choices (a dataclass field's type is not enforced, and YAML or a flag may set any string)."""
    for name, kind in typing.get_type_hints(type(obj)).items():
        if typing.get_origin(kind) is Literal and getattr(obj, name) not in typing.get_args(kind):
            allowed = ", ".join(map(str, typing.get_args(kind)))
            raise ValueError(f"{name}: expected one of {allowed}, got {getattr(obj, name)!r}")


def check_range(name: str, value: float, low: float | None = None, high: float | None = None, *,
                above: float | None = None, below: float | None = None) -> None:
    """ValueError `name: must be …, got value` unless low <= value <= high and above < value < below (None: no bound)."""
    if (low is not None and value < low or high is not None and value > high or above is not None and value <= above
            or below is not None and value >= below):
        bounds = [f">= {low}" if low is not None else f"> {above}" if above is not None else "",
                  f"<= {high}" if high is not None else f"< {below}" if below is not None else ""]
        raise ValueError(f"{name}: must be {' and '.join(b for b in bounds if b)}, got {value}")
