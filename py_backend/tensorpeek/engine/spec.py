"""Breakpoint specs: the one description of a tensor breakpoint shared by the API, the CLI,
the ``TENSORPEEK_BREAKPOINTS`` file and the VS Code extension.

A spec is written ``TARGET:SITE:CONDITION`` (``*:output:nonfinite``,
``encoder.layers.*.attn:grad_output:norm > 1e3``) or as a JSON object with the same keys plus
options. ``parse_spec`` validates everything (including compiling the condition), so a bad
spec is rejected when it is set, never half-way through a training run. A part left empty
(``fc2:output:``) is refused, not defaulted; only an omitted one takes its default (``fc2``
is ``fc2:output:nonfinite``). An empty TARGET is the root module's path ``""``.

Several specs in one string are separated by ``;`` (``*:output:nonfinite;fc*:param:nan``):
``parse_spec_list`` is the one reader of such lists (``TENSORPEEK_BREAKPOINTS`` and
``tensorpeek.breakpoints("a;b")`` use it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tensorpeek.common.vocabulary import SITES
from tensorpeek.engine.conditions import ConditionError, compile_condition

ACTIONS: tuple[str, ...] = ("debugger", "pdb", "raise", "log", "record")

_OPTION_KEYS = ("propagated", "allow", "every", "once", "steps", "action", "exact", "enabled")


class SpecError(ValueError):
    """A breakpoint spec that cannot be armed; the message says what is valid."""


@dataclass(frozen=True)
class BreakpointSpec:
    """What to watch (``target`` glob or class name), where (``site``) and when (``condition``).

    Options: ``propagated`` fires non-finite conditions everywhere instead of only at the
    origin; ``allow`` lists module-path globs where this breakpoint never fires (expected non-finite
    values, e.g. a module building a ``-inf`` attention mask); ``every=n`` evaluates the
    condition only at steps divisible by n (to bound the cost of expensive conditions);
    ``once`` disables the breakpoint after its first hit; ``steps`` is ``(first, last)``
    inclusive (``None`` open);
    ``action`` overrides how a hit pauses; ``exact`` checks CUDA tensors synchronously.
    """

    target: str = "*"
    site: str = "output"
    condition: str = "nonfinite"
    propagated: bool = False
    allow: tuple[str, ...] = ()
    every: int | None = None
    once: bool = False
    steps: tuple[int | None, int | None] | None = None
    action: str | None = None
    exact: bool = False
    enabled: bool = True

    def __str__(self) -> str:
        return f"{self.target}:{self.site}:{self.condition}"

    def to_dict(self) -> dict[str, Any]:
        """The JSON form; ``parse_spec(spec.to_dict()) == spec``."""
        out: dict[str, Any] = {
            "target": self.target,
            "site": self.site,
            "condition": self.condition,
        }
        out.update(
            propagated=self.propagated,
            allow=list(self.allow),
            every=self.every,
            once=self.once,
            steps=list(self.steps) if self.steps is not None else None,
            action=self.action,
            exact=self.exact,
            enabled=self.enabled,
        )
        return out


LIST_SEPARATOR = ";"


def _split(text: str) -> dict[str, Any]:
    if LIST_SEPARATOR in text:
        raise SpecError(
            f"{text!r} holds several specs separated by ';'; give one spec here, or pass the "
            "list to tensorpeek.breakpoints(...) / TENSORPEEK_BREAKPOINTS"
        )
    # the condition may itself contain ':' (never in practice, but do not break on it)
    parts = text.strip().split(":", 2)
    if not parts[0].strip() and len(parts) == 1:
        raise SpecError(
            "empty breakpoint spec; expected TARGET:SITE:CONDITION, e.g. '*:output:nonfinite'"
        )
    keys = ("target", "site", "condition")
    return {k: p.strip() for k, p in zip(keys, parts, strict=False)}


def parse_spec_list(text: str) -> list[BreakpointSpec]:
    """Parse a ``;``-separated list of specs (empty items, e.g. a trailing ``;``, are skipped);
    raise ``SpecError`` naming the bad item, or saying that the list holds no spec."""
    items = [item.strip() for item in text.split(LIST_SEPARATOR)]
    specs = []
    for item in items:
        if not item:
            continue
        try:
            specs.append(parse_spec(item))
        except SpecError as e:
            raise SpecError(f"in {item!r}: {e}") from None
    if not specs:
        raise SpecError(
            f"{text!r} holds no breakpoint spec; expected TARGET:SITE:CONDITION items separated "
            "by ';', e.g. '*:output:nonfinite;fc*:grad_output:norm > 1e3'"
        )
    return specs


def _required_text(raw: dict[str, Any], key: str, default: str, example: str) -> Any:
    """The value of ``key``: its default when absent (or null), refused when given empty."""
    value = raw.get(key)
    if value is None:
        return default
    if isinstance(value, str) and not value.strip():
        raise SpecError(
            f"the {key} of the breakpoint spec is empty; give one (e.g. {example}) or leave the "
            f"part out for the default ({default})"
        )
    return value


def _as_bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise SpecError(f"option {name!r} must be true or false, got {value!r}")
    return value


def _as_steps(value: Any) -> tuple[int | None, int | None] | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return (value, value)
    if isinstance(value, (list, tuple)) and len(value) == 2:
        lo, hi = value
        for v in (lo, hi):
            if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 0):
                raise SpecError(
                    f"'steps' bounds must be non-negative integers or null, got {value!r}"
                )
        return (lo, hi)
    if isinstance(value, range) and value.step == 1:
        return (value.start, value.stop - 1)
    raise SpecError(
        f"'steps' must be an int, [first, last] (inclusive, null = open) or a range; got {value!r}"
    )


def parse_spec(spec: str | dict[str, Any] | BreakpointSpec) -> BreakpointSpec:
    """Parse and validate a spec string or JSON object; raise ``SpecError`` naming what is valid."""
    if isinstance(spec, BreakpointSpec):
        return spec
    if isinstance(spec, str):
        raw: dict[str, Any] = _split(spec)
    elif isinstance(spec, dict):
        raw = dict(spec)
        if "spec" in raw:  # {"spec": "T:S:C", ...options}
            raw = {**_split(str(raw.pop("spec"))), **raw}
    else:
        raise SpecError(
            "a breakpoint spec is a 'TARGET:SITE:CONDITION' string or an object, "
            f"not {type(spec).__name__}"
        )

    # "id", "hit_count", "error", "scope": Breakpoint.to_dict() output read back (ignored)
    informational = {"id", "hit_count", "error", "scope"}
    known = {"target", "site", "condition", *_OPTION_KEYS, *informational}
    unknown = sorted(str(k) for k in raw if k not in known)
    if unknown:
        valid = ", ".join(("target", "site", "condition", *_OPTION_KEYS))
        raise SpecError(
            f"unknown breakpoint option(s) {', '.join(unknown)}; valid options: {valid}"
        )

    target = raw.get("target", "*")
    if not isinstance(target, str):
        raise SpecError(f"target must be a string (module-path glob or class name), got {target!r}")
    site = _required_text(raw, "site", "output", "'grad_output'")
    if site not in SITES:
        raise SpecError(f"unknown site {site!r}; valid sites: {', '.join(SITES)}")
    condition = _required_text(raw, "condition", "nonfinite", "'nan' or 'norm > 1e3'")
    if not isinstance(condition, str):
        raise SpecError(f"condition must be a string, got {condition!r}")
    try:
        compile_condition(condition)
    except ConditionError as e:
        raise SpecError(str(e)) from None

    allow = raw.get("allow") or ()
    if isinstance(allow, str):
        allow = (allow,)
    if not isinstance(allow, (list, tuple)) or not all(isinstance(a, str) for a in allow):
        raise SpecError(f"'allow' must be a list of module-path globs, got {allow!r}")
    every = raw.get("every")
    if every is not None and (not isinstance(every, int) or isinstance(every, bool) or every < 1):
        raise SpecError(f"'every' must be a positive integer, got {every!r}")
    action = raw.get("action")
    if action is not None and action not in ACTIONS:
        raise SpecError(f"unknown action {action!r}; valid actions: {', '.join(ACTIONS)}")

    return BreakpointSpec(
        target=target,
        site=site,
        condition=condition,
        propagated=_as_bool("propagated", raw.get("propagated", False)),
        allow=tuple(allow),
        every=every,
        once=_as_bool("once", raw.get("once", False)),
        steps=_as_steps(raw.get("steps")),
        action=action,
        exact=_as_bool("exact", raw.get("exact", False)),
        enabled=_as_bool("enabled", raw.get("enabled", True)),
    )
