"""What every step of a conversion template is built from: its parameters (`Params`, read through typed getters that
name the template line), the `Step` / `RecordStep` classes, the registry `STEPS` the `@step(name)` decorator fills,
and `RunState` (what a run collects besides records). The steps themselves are in qgen.data.template.steps (filters,
text) and qgen.data.template.dataset_steps (the data-set rules).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from qgen.data.skips import Skips
from qgen.data.template.records import Format, Record, Spot, YDict

LANGS = ("ja", "ko", "en")
_REQUIRED = object()
_OPTION_RE = re.compile(r"\$([A-Za-z_]\w*)")
NAME_RE = re.compile(r"[A-Za-z_]\w*")


@dataclass
class RunState:
    """What a run collects besides records: skipped ids by reason, summary lines (stdout) and warnings (stderr)."""

    skips: Skips = field(default_factory=Skips)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


class Params:
    """A step's parameters, read through typed getters that name the template line on a bad value; `done()` rejects
    any parameter the step did not read (a typo such as `feilds:` must not be silently ignored)."""

    def __init__(self, step: str, raw, shorthand: str | None, spot: Spot, known: set[str], options: dict):
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            if shorthand is None:
                raise spot.error(f"step '{step}' takes a mapping of parameters")
            raw = {shorthand: raw}
        self.step, self.raw, self.spot, self.known, self.options = step, raw, spot, known, options
        self.read: set[str] = set()

    def spot_of(self, key: str) -> Spot:
        return self.spot.at(self.raw.line_of(key)) if isinstance(self.raw, YDict) else self.spot

    def error(self, key: str, message: str):
        return self.spot_of(key).error(f"{self.step}.{key}: {message}")

    def _resolve(self, key: str, value):
        if isinstance(value, list):
            return [self._resolve(key, v) for v in value]
        m = _OPTION_RE.fullmatch(value) if isinstance(value, str) else None
        if m is None:
            return value
        if m.group(1) not in self.options:
            raise self.error(key, f"unknown option '{m.group(1)}' (options: {', '.join(sorted(self.options)) or 'none'})")
        return self.options[m.group(1)]

    def keys(self) -> list[str]:
        return [k for k in self.raw if k != "when"]

    def get(self, key: str, default=_REQUIRED):
        self.read.add(key)
        if key not in self.raw:
            if default is _REQUIRED:
                raise self.spot.error(f"{self.step}: missing parameter '{key}'")
            return default
        return self._resolve(key, self.raw[key])

    def text(self, key: str, default=_REQUIRED) -> str | None:
        value = self.get(key, default)
        if value is not None and not isinstance(value, str):
            raise self.error(key, f"expected text, got {value!r}")
        return value

    def field(self, key: str, default=_REQUIRED) -> str | None:
        """A field name that must exist at this point of the template."""
        value = self.text(key, default)
        if value is not None and value not in self.known:
            raise self.error(key, f"unknown field '{value}' (known here: {', '.join(sorted(self.known))})")
        return value

    def fields(self, key: str) -> list[str]:
        value = self.get(key)
        names = [value] if isinstance(value, str) else value
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            raise self.error(key, "expected a field name or a list of field names")
        for name in names:
            if name not in self.known:
                raise self.error(key, f"unknown field '{name}' (known here: {', '.join(sorted(self.known))})")
        return names

    def name(self, key: str, default: str) -> str:
        """The name of a field this step creates."""
        value = self.text(key, default)
        if not NAME_RE.fullmatch(value):
            raise self.error(key, f"{value!r} is not a field name (letters, digits, _)")
        return value

    def integer(self, key: str, default=_REQUIRED, minimum: int | None = None) -> int | None:
        value = self.get(key, default)
        if value is None and default is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(key, f"expected an integer, got {value!r}")
        if minimum is not None and value < minimum:
            raise self.error(key, f"must be at least {minimum}, got {value}")
        return value

    def boolean(self, key: str, default=_REQUIRED) -> bool:
        value = self.get(key, default)
        if not isinstance(value, bool):
            raise self.error(key, f"expected true or false, got {value!r}")
        return value

    def choice(self, key: str, choices: tuple, default=_REQUIRED):
        value = self.get(key, default)
        if value not in choices:
            raise self.error(key, f"expected one of {', '.join(map(str, choices))}, got {value!r}")
        return value

    def fmt(self, key: str, extra: tuple[str, ...] = ()) -> Format:
        return Format(self.get(key), self.spot_of(key), self.known | set(extra), f"{self.step}.{key}")

    def done(self) -> None:
        unknown = [k for k in self.raw if k not in self.read]
        if unknown:
            raise self.error(unknown[0], f"unknown parameter (this step takes: {', '.join(sorted(self.read))})")


class Step:
    """One entry of `steps:`. `produces` are the field names it adds (known to the steps and formats after it)."""

    shorthand: str | None = None  # the parameter a plain value stands for: `limit: 10` = `limit: {n: 10}`
    produces: tuple[str, ...] = ()

    def __init__(self, p: Params):
        self.spot = p.spot

    def run(self, records: list[Record], state: RunState) -> list[Record]:
        raise NotImplementedError


class RecordStep(Step):
    """A step that looks at one record at a time: `one` changes it in place and returns None, or returns why the
    record is skipped."""

    def run(self, records, state):
        out = []
        for r in records:
            reason = self.one(r)
            if reason is None:
                out.append(r)
            else:
                state.skips.add(reason, r.ident())
        return out

    def one(self, r: Record) -> str | None:
        raise NotImplementedError


STEPS: dict[str, type[Step]] = {}


def step(name: str):
    def register(cls):
        STEPS[name] = cls
        cls.step_name = name
        return cls

    return register
