"""A setting's value as its declared type, whether it came from YAML, JSON or the command line (always a string).

One rule for the training config, the saved `InputSpec` and every settings file: `"false"`/`"no"`/`"off"`/`"0"` are
False (not truthy strings); a list may be a comma-separated string; an int refuses a float with a fraction (`3.5`).
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
        return [str(v) for v in (value or [])]
    if kind is int and isinstance(value, float) and not value.is_integer():
        raise ValueError(value)
    return kind(value)
