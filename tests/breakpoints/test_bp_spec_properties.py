"""Property tests of the spec parser and the condition language (hypothesis, derandomized):
whatever the string or JSON object, ``parse_spec`` answers with a spec or a ``SpecError`` and
nothing else, quickly (hypothesis' ``deadline``), and neither parsing nor evaluating a
condition runs any code: no ``exec``, no import, no file or process, nothing printed, and a
canary function that a whitelist breach would reach is never called."""

from __future__ import annotations

import builtins
import contextlib
import io
import sys
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tensorpeek.engine.conditions import (
    CONTEXT_NAMES,
    FUNCTIONS,
    STAT_NAMES,
    EvalContext,
    compile_condition,
)
from tensorpeek.engine.spec import _OPTION_KEYS, SpecError, parse_spec

PROPERTY = settings(
    derandomize=True,
    deadline=timedelta(milliseconds=250),  # generous: a parse takes well under 1 ms
    max_examples=300,
    suppress_health_check=[HealthCheck.too_slow],
    database=None,
)

FORBIDDEN_EVENTS = {"exec", "import", "open", "os.system", "subprocess.Popen", "builtins.input"}
_watching: list[str] = []  # audit events seen while a property runs (an empty list: not watching)
_active = False


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if _active and event in FORBIDDEN_EVENTS:
        _watching.append(event)


sys.addaudithook(_audit)  # hooks cannot be removed; it only records while ``_active``
CANARY_CALLS: list[object] = []


def canary(*args: object) -> int:
    CANARY_CALLS.append(args)
    print("canary ran")
    return 1


@contextlib.contextmanager
def no_code_runs() -> Iterator[None]:
    """Fail when anything inside runs code: exec, imports, files, processes, output."""
    global _active
    out = io.StringIO()
    builtins.canary = canary  # type: ignore[attr-defined]
    _watching.clear()
    CANARY_CALLS.clear()
    _active = True
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            yield
    finally:
        _active = False
        del builtins.canary  # type: ignore[attr-defined]
    assert _watching == [] and CANARY_CALLS == [] and out.getvalue() == ""


X = torch.tensor([[-3.0, 0.0], [2.5, 1e-3]])


def check(spec: str | dict[str, Any]) -> None:
    """The property: a spec or a SpecError; a compiled condition evaluates to a bool."""
    with no_code_runs():
        try:
            parsed = parse_spec(spec)
        except SpecError:
            return
        cond = compile_condition(parsed.condition)
        if cond.kind == "expr":
            fired, _ = cond.evaluate(X, EvalContext(step=7, site=parsed.site))
            assert isinstance(fired, bool)
    assert parse_spec(parsed.to_dict()) == parsed


@pytest.fixture(autouse=True, scope="module")
def warm() -> None:
    # first-use imports (the statistics) happen here, outside the properties
    compile_condition("norm > 1").evaluate(X, EvalContext(step=0, site="output"))


@PROPERTY
@given(st.text(max_size=300))
def test_any_string_is_a_spec_or_a_spec_error(text: str) -> None:
    check(text)


NAMES = [*STAT_NAMES, *CONTEXT_NAMES, *FUNCTIONS]
HOSTILE = [
    "canary", "__import__", "print", "eval", "exec", "open", "os", "sys", "__builtins__",
    "__class__", "lambda", "x", "torch", "breakpoint", "getattr", "globals",
]  # fmt: skip
TOKENS = [
    *NAMES, *HOSTILE, "0", "1", "-1", "3.5", "1e308", "1e999", "10", "99999999999999999999",
    "+", "-", "*", "/", "//", "%", "**", "<", "<=", ">", ">=", "==", "!=", "and", "or", "not",
    "if", "else", "(", ")", ",", ".", "[", "]", ":", ";", "'", '"', "=", ":=", "@", "~", "|",
    "&", "^", "<<", ">>", "{", "}", "*:output:", "fc*:grad_output:", "\\", "\x1b", "\n", " ",
]  # fmt: skip


@PROPERTY
@given(st.lists(st.sampled_from(TOKENS), max_size=40))
def test_strings_of_condition_tokens_are_a_spec_or_a_spec_error(tokens: list[str]) -> None:
    text = " ".join(tokens)
    check(text)
    check(f"*:output:{text}")


def expressions() -> st.SearchStrategy[str]:
    """Well-formed expressions of the language (and some hostile calls) of any depth."""
    leaves = st.sampled_from([*STAT_NAMES, *CONTEXT_NAMES, "0", "2", "0.5", "1e300", "10", "-7"])

    def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        binary = st.tuples(
            inner,
            st.sampled_from(["+", "-", "*", "/", "//", "%", "**", "<", ">", "==", "and", "or"]),
            inner,
        ).map(lambda t: f"({t[0]} {t[1]} {t[2]})")
        unary = st.tuples(st.sampled_from(["-", "+", "not "]), inner).map(
            lambda t: f"({t[0]}{t[1]})"
        )
        call = st.tuples(st.sampled_from([*FUNCTIONS, "canary", "print"]), inner, inner).map(
            lambda t: f"{t[0]}({t[1]})" if t[0] in ("abs", "sqrt", "log", "log10") else
            f"{t[0]}({t[1]}, {t[2]})"
        )  # fmt: skip
        ternary = st.tuples(inner, inner, inner).map(lambda t: f"({t[0]} if {t[1]} else {t[2]})")
        return binary | unary | call | ternary

    return st.recursive(leaves, extend, max_leaves=20)


@PROPERTY
@given(expressions())
def test_well_formed_expressions_compile_and_evaluate_in_bounded_time(text: str) -> None:
    check(f"*:output:{text}")
    if "canary" in text or "print" in text or len(text) > 500:
        return
    try:
        parse_spec(f"*:output:{text}")
    except SpecError as e:  # a well-formed expression is refused only for these two reasons
        assert "nested more than" in str(e) or "reads no statistic" in str(e), str(e)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
spec_objects = st.dictionaries(
    st.sampled_from(["target", "site", "condition", "spec", *_OPTION_KEYS, "id"])
    | st.text(max_size=8),
    json_values
    | st.sampled_from(["*", "fc*", "output", "grad_output", "param", "norm > 1", "nan", "record"]),
    max_size=8,
)


@PROPERTY
@given(spec_objects)
def test_any_json_object_is_a_spec_or_a_spec_error(obj: dict[str, Any]) -> None:
    check(obj)
