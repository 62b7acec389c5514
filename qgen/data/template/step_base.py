"""What every step of a conversion template is built from: its parameters (`Params`, read through typed getters that
name the template line), the `Step` / `RecordStep` classes, the registry `STEPS` the `@step(name)` decorator fills,
and `RunState` (what a run collects besides records). The steps themselves are in qgen.data.template.steps (filters,
text) and qgen.data.template.dataset_steps (the data-set rules).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar, overload

from qgen.core.errors import QgenInputError
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

    def __init__(self, step: str, raw: object, shorthand: str | None, spot: Spot, known: set[str], options: dict):
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            if shorthand is None:
                raise spot.error(f"step '{step}' takes a mapping of parameters")
            raw = {shorthand: raw}
        self.raw: dict = raw
        self.step, self.spot, self.known, self.options = step, spot, known, options
        self.read: set[str] = set()

    def spot_of(self, key: str) -> Spot:
        """The parameter's own line when the YAML kept it, so an error points at the value."""
        return self.spot.at(self.raw.line_of(key)) if isinstance(self.raw, YDict) else self.spot

    def error(self, key: str, message: str) -> QgenInputError:
        """An error about parameter `key`, prefixed `step.key` so the user sees which one."""
        return self.spot_of(key).error(f"{self.step}.{key}: {message}")

    def _resolve(self, key: str, value: object) -> Any:
        if isinstance(value, list):
            return [self._resolve(key, v) for v in value]
        m = _OPTION_RE.fullmatch(value) if isinstance(value, str) else None
        if m is None:
            return value
        if m.group(1) not in self.options:
            raise self.error(key, f"unknown option '{m.group(1)}' (options: {', '.join(sorted(self.options)) or 'none'})")
        return self.options[m.group(1)]

    def keys(self) -> list[str]:
        """The parameter names but `when` (read by the converter), for steps that take any names."""
        return [k for k in self.raw if k != "when"]

    def get(self, key: str, default: Any = _REQUIRED) -> Any:
        """The value with `$option` resolved, marked as read so `done()` can refuse the unread ones."""
        self.read.add(key)
        if key not in self.raw:
            if default is _REQUIRED:
                raise self.spot.error(f"{self.step}: missing parameter '{key}'")
            return default
        return self._resolve(key, self.raw[key])

    @overload
    def text(self, key: str, default: str = ...) -> str: ...
    @overload
    def text(self, key: str, default: None) -> str | None: ...

    def text(self, key: str, default: Any = _REQUIRED) -> str | None:
        """A text value; anything else is an error naming the line."""
        value = self.get(key, default)
        if value is not None and not isinstance(value, str):
            raise self.error(key, f"expected text, got {value!r}")
        return value

    @overload
    def field(self, key: str, default: str = ...) -> str: ...
    @overload
    def field(self, key: str, default: None) -> str | None: ...

    def field(self, key: str, default: Any = _REQUIRED) -> str | None:
        """A field name that must exist at this point of the template."""
        value = self.text(key, default)
        if value is not None and value not in self.known:
            raise self.error(key, f"unknown field '{value}' (known here: {', '.join(sorted(self.known))})")
        return value

    def fields(self, key: str) -> list[str]:
        """One field name or a list of them, each known here: a typo fails when the template loads."""
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
        if value is None or not NAME_RE.fullmatch(value):
            raise self.error(key, f"{value!r} is not a field name (letters, digits, _)")
        return value

    @overload
    def integer(self, key: str, default: int = ..., minimum: int | None = None) -> int: ...
    @overload
    def integer(self, key: str, default: None, minimum: int | None = None) -> int | None: ...

    def integer(self, key: str, default: Any = _REQUIRED, minimum: int | None = None) -> int | None:
        """An integer (a bool is not one, though Python says so), at least `minimum`."""
        value = self.get(key, default)
        if value is None and default is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(key, f"expected an integer, got {value!r}")
        if minimum is not None and value < minimum:
            raise self.error(key, f"must be at least {minimum}, got {value}")
        return value

    def boolean(self, key: str, default: Any = _REQUIRED) -> bool:
        """true or false only: \"no\" or 0 are refused rather than guessed."""
        value = self.get(key, default)
        if not isinstance(value, bool):
            raise self.error(key, f"expected true or false, got {value!r}")
        return value

    def choice(self, key: str, choices: tuple, default: Any = _REQUIRED) -> Any:
        """One of `choices`; the error lists them."""
        value = self.get(key, default)
        if value not in choices:
            raise self.error(key, f"expected one of {', '.join(map(str, choices))}, got {value!r}")
        return value

    def fmt(self, key: str, extra: tuple[str, ...] = ()) -> Format:
        """A format string checked now against the fields known here (plus the `extra` the step adds)."""
        return Format(self.get(key), self.spot_of(key), self.known | set(extra), f"{self.step}.{key}")

    def done(self) -> None:
        """Refuse a parameter the step did not read: a misspelt one must not be silently ignored."""
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
        """The records that go on (some steps need them all at once: unique, limit, holdout)."""
        raise NotImplementedError


class RecordStep(Step):
    """A step that looks at one record at a time: `one` changes it in place and returns None, or returns why the
    record is skipped."""

    def run(self, records: list[Record], state: RunState) -> list[Record]:
        """`one` on each record; the skipped ones are counted by reason, the rest go on in order."""
        out = []
        for r in records:
            reason = self.one(r)
            if reason is None:
                out.append(r)
            else:
                state.skips.add(reason, r.ident())
        return out

    def one(self, r: Record) -> str | None:
        """Change `r` in place and return None, or return why it is skipped (counted by reason)."""
        raise NotImplementedError


STEPS: dict[str, type[Step]] = {}


_S = TypeVar("_S", bound=type[Step])


def step(name: str) -> Callable[[_S], _S]:
    """Class decorator: `steps:` entries name steps, so each class registers under its template name."""

    def register(cls: _S) -> _S:
        STEPS[name] = cls
        cls.step_name = name  # type: ignore[attr-defined]
        return cls

    return register
