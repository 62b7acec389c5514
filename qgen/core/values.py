"""A setting's value as its declared type, whether it came from YAML, JSON or the command line (always a string).

One rule for the training config, the saved `InputSpec` and every settings file: `"false"`/`"no"`/`"off"`/`"0"` are
False (not truthy strings); a list may be a comma-separated string, and its items must be non-empty strings (or
numbers), never lists; a string is never a list or mapping written out; an int refuses a float with a fraction (`3.5`).
"""

from __future__ import annotations

TRUE = ("true", "1", "yes", "on")
FALSE = ("false", "0", "no", "off")


def coerce(value, kind):
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
