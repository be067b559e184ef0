"""Breakpoint specs and conditions: parsed once, rejected at set time with the valid names."""

from __future__ import annotations

import pytest
import torch

import tensorpeek
from tensorpeek.engine import api
from tensorpeek.engine.conditions import STAT_NAMES, compile_condition
from tensorpeek.engine.spec import SpecError, parse_spec


def test_string_spec_parses_into_its_three_parts_and_round_trips_through_json() -> None:
    spec = parse_spec("encoder.layers.*.attn:grad_output:norm > 1e3")
    assert (spec.target, spec.site, spec.condition) == (
        "encoder.layers.*.attn",
        "grad_output",
        "norm > 1e3",
    )
    assert parse_spec(spec.to_dict()) == spec
    assert str(spec) == "encoder.layers.*.attn:grad_output:norm > 1e3"


def test_short_specs_default_to_output_and_nonfinite() -> None:
    assert parse_spec("fc1").site == "output"
    assert parse_spec("fc1").condition == "nonfinite"
    assert parse_spec("fc1:grad_output").condition == "nonfinite"


def test_json_form_accepts_options() -> None:
    spec = parse_spec(
        {"target": "*", "site": "param", "condition": "nan", "once": True, "steps": [3, None]}
    )
    assert spec.once and spec.steps == (3, None)


@pytest.mark.parametrize(
    ("spec", "must_mention"),
    [
        ("*:outptu:nonfinite", ["outptu", "grad_output", "param_grad"]),
        ("*:output:nonfinit", ["nonfinit", "nonfinite", "exploding", "absmax", "zeros_frac"]),
        ("*:output:absmax > 1e4 or stdev < 1e-6", ["stdev", "std", "absmax", "step"]),
        ("*:output:__import__('os').system('true')", ["not allowed", "absmax"]),
        ("*:output:norm >", ["not a valid expression", "norm"]),
        ({"target": "*", "evry": 3}, ["evry", "every"]),
        ({"target": "*", "action": "explode"}, ["explode", "pdb", "raise", "log", "record"]),
    ],
)
def test_invalid_specs_are_rejected_with_a_message_naming_what_is_valid(
    spec: object, must_mention: list[str]
) -> None:
    with pytest.raises(SpecError) as info:
        parse_spec(spec)  # type: ignore[arg-type]
    for word in must_mention:
        assert word in str(info.value), (word, str(info.value))


def test_break_on_rejects_a_bad_condition_and_arms_nothing() -> None:
    with pytest.raises(SpecError, match="unknown name 'stdev'"):
        tensorpeek.break_on("*", "output", "stdev > 1")
    assert api.list_breakpoints() == []


def test_set_breakpoints_changes_nothing_when_one_spec_is_bad() -> None:
    kept = api.set_breakpoints(["*:output:nonfinite", {"target": "fc*", "site": "param"}])
    with pytest.raises(SpecError):
        api.set_breakpoints(["*:output:nan", "*:nowhere:nan"])
    assert api.list_breakpoints() == kept
    replaced = api.set_breakpoints(["*:grad_output:nan"])
    assert [str(bp.spec) for bp in api.list_breakpoints()] == ["*:grad_output:nan"]
    assert replaced[0].to_dict()["site"] == "grad_output"


def test_expression_conditions_read_exactly_the_names_they_mention() -> None:
    cond = compile_condition("absmax > 1e4 or std < 1e-6 and step > 3")
    assert cond.names == {"absmax", "std", "step"}
    assert set(STAT_NAMES) >= cond.names - {"step"}


def test_evaluating_a_condition_computes_only_the_named_statistics(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tensorpeek.engine.conditions import EvalContext
    from tensorpeek.summary import stats

    asked: list[list[str]] = []
    real = stats.compute

    def spy(x: torch.Tensor, names: list[str]) -> dict:
        asked.append(list(names))
        return real(x, names)

    monkeypatch.setattr(stats, "compute", spy)
    x = torch.tensor([1.0, -2e5, 3.0], dtype=torch.float64)
    fired, values = compile_condition("absmax > 1e4").evaluate(
        x, EvalContext(step=0, site="output")
    )
    assert fired and values["absmax"] == 2e5 and asked == [["absmax"]]
    asked.clear()
    fired, _ = compile_condition("nonfinite").evaluate(x, EvalContext(step=0, site="output"))
    assert not fired and asked == []  # the preset is one screening reduction, no stats call


@pytest.mark.parametrize(
    ("values", "preset", "expected"),
    [
        ([1.0, float("nan")], "nan", True),
        ([1.0, float("inf")], "nan", False),
        ([1.0, float("-inf")], "inf", True),
        (
            [3e38, 3e38],
            "nonfinite",
            False,
        ),  # the float32 sum overflows; the exact re-check says finite
        ([1.0, 2.0], "nonfinite", False),
    ],
)
def test_nonfinite_presets_agree_with_torch(
    values: list[float], preset: str, expected: bool
) -> None:
    from tensorpeek.engine.conditions import EvalContext

    x = torch.tensor(values, dtype=torch.float32)
    fired, _ = compile_condition(preset).evaluate(x, EvalContext(step=0, site="output"))
    assert fired is expected


def test_saturated_fires_for_fp16_at_its_max_only() -> None:
    from tensorpeek.engine.conditions import EvalContext

    cond = compile_condition("saturated")
    at_max = torch.tensor([65504.0, 1.0], dtype=torch.float16)
    assert cond.evaluate(at_max, EvalContext(0, "output"))[0]
    assert not cond.evaluate(
        torch.tensor([6e4, 1.0], dtype=torch.float16), EvalContext(0, "output")
    )[0]
    assert not cond.evaluate(torch.tensor([1e38], dtype=torch.float32), EvalContext(0, "output"))[0]


def test_dead_fires_after_activations_only() -> None:
    from tensorpeek.engine.conditions import EvalContext

    cond = compile_condition("dead")
    zeros = torch.zeros(100)
    assert cond.evaluate(zeros, EvalContext(0, "output", module=torch.nn.ReLU()))[0]
    assert not cond.evaluate(zeros, EvalContext(0, "output", module=torch.nn.Linear(2, 2)))[0]


@pytest.mark.parametrize(
    ("condition", "values", "expected"),
    [
        ("max > 100", [1.0, 200.0], True),
        ("max > 100", [1.0, 50.0], False),
        ("min < -1", [-3.0, 2.0], True),
        ("max > 100 or norm > 1e9", [1.0, 200.0], True),
        ("max(absmax, 1) > 100", [1.0, 200.0], True),
        ("min(max, 10) == 10", [1.0, 200.0], True),
    ],
)
def test_bare_min_and_max_are_the_statistics_and_calls_are_the_functions(
    condition: str, values: list[float], expected: bool
) -> None:
    from tensorpeek.engine.conditions import EvalContext

    cond = compile_condition(condition)
    assert {"min", "max"} & cond.names or "absmax" in cond.names
    fired, _ = cond.evaluate(torch.tensor(values), EvalContext(step=0, site="output"))
    assert fired is expected


@pytest.mark.parametrize(
    ("condition", "must_mention"),
    [
        ("norm > 1 or " + " + ".join(["norm"] * 1500) + " > 0", ["characters", "at most"]),
        ("-" * 5000 + "norm > 1", ["characters"]),
        ("-" * 400 + "norm > 1", ["nested", "levels"]),
        ("abs(" * 40 + "norm" + ")" * 40 + " > 1", ["nested", "levels"]),
    ],
)
def test_huge_or_deeply_nested_conditions_are_a_spec_error_not_a_recursion_error(
    condition: str, must_mention: list[str]
) -> None:
    with pytest.raises(SpecError) as info:
        parse_spec(f"*:output:{condition}")
    for word in must_mention:
        assert word in str(info.value)


@pytest.mark.parametrize(
    ("condition", "fires"),
    [
        ("step ** 10 ** 10 > norm", True),  # a float power: inf, at once
        ("numel ** numel ** numel ** numel > 1", True),
        ("norm / (step - step) > 1", True),  # division by zero is IEEE's inf
        ("step % 0 == 0", False),  # nan: no verdict, no exception
        ("log(step - step) < 0", True),  # log(0) = -inf
        ("sqrt(-norm) > 0", False),  # nan
        ("(-norm) ** 0.5 > 0", False),  # no complex numbers
    ],
)
def test_conditions_evaluate_in_bounded_floats_and_never_raise(condition: str, fires: bool) -> None:
    from tensorpeek.engine.conditions import EvalContext

    cond = compile_condition(parse_spec(f"*:output:{condition}").condition)
    x = torch.tensor([1.0, 3.0])
    assert cond.evaluate(x, EvalContext(step=3, site="output"))[0] is fires


@pytest.mark.parametrize(
    ("spec", "missing"),
    [("fc2:output:", "condition"), ("fc2::nan", "site"), ("fc2: :", "site")],
)
def test_an_empty_part_of_a_spec_is_refused_and_named(spec: str, missing: str) -> None:
    with pytest.raises(SpecError, match=f"the {missing} of the breakpoint spec is empty"):
        parse_spec(spec)
    with pytest.raises(SpecError, match="empty"):
        parse_spec({"target": "fc2", "site": "output", "condition": " "})


def test_breakpoints_accepts_the_semicolon_list_the_environment_variable_accepts() -> None:
    from tensorpeek.engine.spec import parse_spec_list

    text = "*:output:nonfinite; fc*:grad_output:norm > 1e3;"
    with tensorpeek.breakpoints(text) as armed:
        assert [str(bp.spec) for bp in armed] == [str(s) for s in parse_spec_list(text)]
        assert [str(bp.spec) for bp in armed] == [
            "*:output:nonfinite",
            "fc*:grad_output:norm > 1e3",
        ]
    with tensorpeek.breakpoints("fc1;fc2", action="record") as armed:
        assert [(bp.spec.target, bp.spec.action) for bp in armed] == [
            ("fc1", "record"),
            ("fc2", "record"),
        ]
    assert api.list_breakpoints() == []
    with pytest.raises(SpecError, match="in 'fc1:outptu'"):
        parse_spec_list("fc1:output;fc1:outptu")
    with pytest.raises(SpecError, match="no breakpoint spec"):
        parse_spec_list(" ; ;")
    with pytest.raises(SpecError, match=r"tensorpeek.breakpoints"):
        tensorpeek.break_on("fc1;fc2")


@pytest.mark.parametrize("condition", ["max > 100 or norm > 1e9", "log(absmax) > 100"])
def test_conditions_that_used_to_fail_at_run_time_stay_armed_through_training(
    condition: str,
) -> None:
    import warnings

    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1))
    with torch.no_grad():
        model[0].weight.zero_()  # absmax 0: log(0) is -inf, not a ValueError
        model[0].bias.zero_()
    bp = tensorpeek.break_on(f"*:output:{condition}", action="record")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(3):
            model(torch.randn(2, 4)).sum().backward()
    assert bp.enabled and bp.error is None
