"""Breakpoints on real training loops: they fire at the origin (module, site, step), and an
armed breakpoint that does not fire changes nothing the program computes."""

from __future__ import annotations

import copy
import io
import json
import pickle

import pytest
import torch
import torch.nn.modules.module as nn_module
from bp_models import MLP, Shapes, Sqrt, train
from torch import nn

import tensorpeek
from tensorpeek.engine import api, history
from tensorpeek.engine.hooks import HOOKS


def global_hook_count() -> int:
    return len(nn_module._global_forward_hooks) + len(nn_module._global_forward_pre_hooks)


def poison(module: nn.Linear, row: int = 0) -> None:
    with torch.no_grad():
        module.weight[row, 0] = float("nan")


def test_nonfinite_breakpoint_fires_at_the_origin_module_only() -> None:
    torch.manual_seed(0)
    model = MLP()
    bp = tensorpeek.break_on(model, action="record")
    train(model, steps=3)
    assert api.hits() == []
    poison(model.fc2)
    model(torch.randn(2, 4))
    found = api.hits()
    assert [(h.module, h.site, h.origin) for h in found] == [("fc2", "output", True)]
    hit = found[0]
    assert hit.step == 3 and hit.module_class == "Linear" and bp.hit_count == 1
    assert hit.tensor is not None and torch.isnan(hit.tensor).any()
    assert hit.summary["nan"] == int(torch.isnan(hit.tensor).sum())  # oracle: torch itself
    assert hit.input_summaries[0]["nan"] == 0
    d = json.loads(json.dumps(hit.to_dict(), allow_nan=False))  # JSON-safe, no NaN literals
    assert d["module"] == "fc2" and d["breakpoint"] == bp.id and d["param"] is None
    assert d["spec"]["condition"] == "nonfinite" and d["inputs"][0]["nan"] == 0


def test_propagated_fires_at_every_module_the_nan_flows_through() -> None:
    model = MLP()
    poison(model.fc1)
    tensorpeek.break_on(model, propagated=True, action="record")
    model(torch.randn(2, 4))
    found = [(h.module, h.origin) for h in api.hits()]
    assert found == [("fc1", True)] + [(m, False) for m in ("act1", "fc2", "act2", "head", "")]


def test_bad_data_has_its_origin_at_the_root_input() -> None:
    model = MLP()
    tensorpeek.break_on("*:output:nonfinite", action="record")
    x = torch.randn(2, 4)
    x[1, 2] = float("inf")
    model(x)
    assert [(h.module, h.site, h.module_class) for h in api.hits()] == [("", "input", "MLP")]


def test_an_input_breakpoint_fires_where_bad_values_first_arrive_in_each_pass() -> None:
    model = MLP()
    poison(model.fc1)
    tensorpeek.break_on(model, "input", action="record")
    model(torch.randn(2, 4))
    model(torch.randn(2, 4))
    found = [(h.module, h.site, h.origin, h.step) for h in api.hits()]
    assert found == [("act1", "input", False, 0), ("act1", "input", False, 1)]


def test_an_expected_minus_inf_mask_is_not_an_origin_but_a_nan_after_it_is() -> None:
    class Masked(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.make_mask = nn.Identity()
            self.softmax = nn.Softmax(dim=-1)

        def forward(self, scores: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
            mask = self.make_mask(torch.where(keep, 0.0, float("-inf")))
            return self.softmax(scores + mask)

    model = Masked()
    scores = torch.randn(2, 3)
    keep = torch.tensor([[True, False, True], [False, False, False]])  # row 2 all masked -> NaN
    tensorpeek.break_on("*", allow=["make_mask"], action="record")
    model(scores, keep)
    assert [(h.module, h.site) for h in api.hits()] == [("softmax", "output")]
    # softmax's input held -Inf: the note says so, not "its inputs were finite"
    assert api.hits()[0].note == (
        "its inputs held no NaN or +Inf (it received -Inf×4, taken for a mask, and turned it "
        "into NaN or +Inf)"
    )


def test_a_layer_fed_minus_inf_by_its_parents_code_is_the_origin_and_its_note_says_what_it_got():
    """-Inf made in the root's own code (an overflow) reaches a Linear, which turns it into
    NaN: -Inf alone reads as a mask, so the Linear is the origin, and its finding must not
    claim that its inputs were finite (doctor said so before)."""

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.pool = nn.Identity()
            self.head = nn.Linear(4, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = self.pool(x)
            return self.head(-h.exp() * 1e39)  # float32 overflow: -Inf everywhere

    model = Net()
    tensorpeek.break_on("*:output:nonfinite", action="record")
    model(torch.randn(2, 4).abs())
    hit = api.hits()[0]
    assert (hit.module, hit.site) == ("head", "output")
    assert hit.note == (
        "its inputs held no NaN or +Inf (it received -Inf×8, taken for a mask, and turned it "
        "into NaN or +Inf)"
    )


@pytest.mark.parametrize(("site", "expected"), [("grad_input", "1"), ("grad_output", "0")])
def test_backward_breakpoint_fires_at_the_first_nonfinite_gradient(
    site: str, expected: str
) -> None:
    model = nn.Sequential(nn.Linear(3, 3), Sqrt(), nn.Linear(3, 1))
    with torch.no_grad():
        model[0].weight.zero_()
        model[0].bias.zero_()  # sqrt(0): finite forward, infinite gradient backward through Sqrt
    tensorpeek.break_on(model, site, action="record")
    model(torch.randn(2, 3)).sum().backward()
    # Sqrt's outgoing gradient (grad_input of "1") is the same tensor as the gradient reaching
    # Linear "0" (its grad_output): the first non-finite gradient in the backward pass
    assert [(h.module, h.site, h.origin) for h in api.hits()] == [(expected, site, True)]
    assert torch.isinf(api.hits()[0].tensor).any()


def test_with_both_backward_sites_armed_the_origin_is_the_producers_grad_input() -> None:
    # Linear "0"'s grad_output hook and Sqrt's grad_input hook see the same tensor, and the
    # former may run first; the origin is still where the gradient went bad: Sqrt
    model = nn.Sequential(nn.Linear(3, 3), Sqrt(), nn.Linear(3, 1))
    with torch.no_grad():
        model[0].weight.zero_()
        model[0].bias.zero_()
    tensorpeek.break_on(model, "grad_output", action="record")
    tensorpeek.break_on(model, "grad_input", action="record")
    model(torch.randn(2, 3)).sum().backward()
    assert [(h.module, h.site, h.origin) for h in api.hits()] == [("1", "grad_input", True)]


def test_param_grad_and_param_sites_name_the_parameter_and_the_step() -> None:
    model = MLP()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    tensorpeek.break_on(model, "param_grad", action="record")
    tensorpeek.break_on(model, "param", action="record")
    for step in range(3):
        loss = model(torch.randn(4, 4)).sum()
        if step == 2:
            loss = loss * float("inf")
        opt.zero_grad()
        loss.backward()
        opt.step()
    found = api.hits()
    assert (found[0].site, found[0].step, found[0].origin) == ("param_grad", 2, True)
    assert found[0].param in ("weight", "bias") and found[0].module == "head"
    assert all(h.step == 2 for h in found)
    assert {h.site for h in found} == {"param_grad"}  # params went bad only with non-finite grads


def test_step_counts_optimizer_steps_and_expressions_can_use_it() -> None:
    model = MLP()
    tensorpeek.break_on(model, "output", "step >= 4 and absmax > 0", action="record", once=True)
    train(model, steps=6)
    assert [(h.module, h.step) for h in api.hits()] == [("fc1", 4)]


def test_every_and_steps_limit_where_conditions_are_evaluated() -> None:
    model = MLP()
    tensorpeek.break_on(model.fc1, "output", "numel > 0", action="record", steps=[2, 5], every=2)
    train(model, steps=7)
    assert [h.step for h in api.hits()] == [2, 4]


def test_armed_but_not_hit_losses_are_bitwise_equal_to_an_unarmed_run() -> None:
    torch.manual_seed(0)
    model = MLP()
    start = copy.deepcopy(model.state_dict())
    plain = train(model, steps=20)
    model.load_state_dict(start)
    sites = ("input", "output", "grad_input", "grad_output", "param_grad", "param")
    armed = [tensorpeek.break_on(model, site, "nonfinite", action="raise") for site in sites]
    armed.append(tensorpeek.break_on(model, "output", "absmax > 1e30 or std < 0", action="raise"))
    with_bps = train(model, steps=20)
    assert with_bps == plain  # exact float equality, every step
    assert api.hits() == []
    assert history.layer_history()["fc1"]["output"][-1]["step"] == 19
    assert HOOKS.hook_count() <= 2 * 6 * 2 + 4  # one step's grad hooks and the params, not twenty


def test_armed_checks_touch_neither_the_rng_nor_version_counters_nor_the_graph() -> None:
    model = MLP()
    for site in ("input", "output", "grad_input", "grad_output", "param_grad"):
        tensorpeek.break_on(model, site, "nonfinite", action="raise")
    tensorpeek.break_on(model, "output", "std > 1e9 or absmax < 0", action="raise")
    x = torch.randn(3, 4, requires_grad=True)
    rng = torch.get_rng_state()
    params_before = [p._version for p in model.parameters()]
    out = model(x)
    version, graph = out._version, out.grad_fn
    out.sum().backward()
    assert torch.equal(torch.get_rng_state(), rng)
    assert out._version == version and out.grad_fn is graph
    assert [p._version for p in model.parameters()] == params_before
    assert type(graph).__name__ == "AddmmBackward0"  # head's own op: no hook node wrapped around it


def test_model_can_be_saved_deepcopied_and_pickled_while_armed() -> None:
    model = MLP()
    tensorpeek.break_on(model, "param_grad", action="raise")
    tensorpeek.break_on(model, "grad_output", action="raise")
    train(model, steps=2)  # param hooks are now registered on the parameters
    buf = io.BytesIO()
    torch.save(model, buf)
    buf.seek(0)
    loaded = torch.load(buf, weights_only=False)
    clone = copy.deepcopy(model)
    unpickled = pickle.loads(pickle.dumps(model))
    x = torch.randn(3, 4)
    for other in (loaded, clone, unpickled):
        assert torch.equal(other(x), model(x))


def test_remove_leaves_no_hook_anywhere() -> None:
    model = MLP()
    before = global_hook_count()
    original_backward = torch.autograd.backward
    bps = [
        tensorpeek.break_on(model, s, action="raise")
        for s in ("grad_output", "param_grad", "grad_input")
    ]
    out = model(torch.randn(2, 4, requires_grad=True))
    assert global_hook_count() == before + 2
    assert any(p._post_accumulate_grad_hooks for p in model.parameters())
    for bp in bps:
        bp.remove()
    assert global_hook_count() == before and not HOOKS.installed
    assert torch.autograd.backward is original_backward, "the backward() counter is unwrapped"
    assert HOOKS.hook_count() == 0
    assert not any(p._post_accumulate_grad_hooks for p in model.parameters())
    assert not out._backward_hooks
    out.sum().backward()  # fine, nothing fires


@pytest.mark.parametrize("kind", ["tuple", "dict", "dataclass", "none"])
def test_structured_outputs_are_checked_leaf_by_leaf(kind: str) -> None:
    model = Shapes(kind)
    tensorpeek.break_on(model, "output", propagated=True, action="record")
    tensorpeek.break_on(model, "grad_output", action="record")
    poison(model.lin)
    out = model(torch.randn(2, 4))
    first = {"tuple": "0", "dict": "out", "dataclass": "first", "none": None}[kind]
    forward = [(h.module, h.site, h.label) for h in api.hits() if h.module == ""]
    assert forward == ([("", "output", first)] if first else [])
    if kind == "none":
        assert out is None
        return
    # a leaf only the root produced (tuple, dict) or the one it shares with lin (dataclass)
    y = {"tuple": lambda o: o[2], "dict": lambda o: o["aux"][0], "dataclass": lambda o: o.first}[
        kind
    ](out)
    assert {"tuple": lambda o: o[1] is None, "dict": lambda o: set(o) == {"out", "aux"},
            "dataclass": lambda o: o.second is None}[kind](out)  # fmt: skip
    # backward: a gradient that goes bad only in the backward (a forward NaN would make every
    # gradient after it propagation), on a clean model: the loss itself is NaN
    api.clear()
    clean = Shapes(kind)
    tensorpeek.break_on(clean, "grad_output", action="record")
    y = {"tuple": lambda o: o[2], "dict": lambda o: o["aux"][0], "dataclass": lambda o: o.first}[
        kind
    ](clean(torch.randn(2, 4)))
    (y * float("nan")).sum().backward()  # d/dy = NaN
    # a tensor that is also lin's output was hooked by lin first, so lin reports it
    expected = {"tuple": ("", "2"), "dict": ("", "aux.0"), "dataclass": ("lin", "")}[kind]
    backward = [(h.module, h.label) for h in api.hits() if h.site == "grad_output"]
    assert backward == [expected]


def test_in_place_op_after_a_module_still_gets_its_grad_output() -> None:
    model = nn.Sequential(nn.Linear(4, 4), nn.ReLU(inplace=True), nn.Linear(4, 1))
    tensorpeek.break_on(model, "grad_output", "norm >= 0", action="record")
    model(torch.randn(2, 4)).sum().backward()
    assert {h.module for h in api.hits()} == {"0", "1", "2", ""}


def test_a_module_called_twice_per_step_is_checked_on_each_call() -> None:
    class Twice(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = nn.Linear(4, 4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.lin(self.lin(x))

    model = Twice()
    tensorpeek.break_on(model.lin, "output", "absmax >= 0", action="record")
    tensorpeek.break_on(model.lin, "grad_output", "absmax >= 0", action="record")
    model(torch.randn(2, 4)).sum().backward()
    assert [(h.module, h.site) for h in api.hits()] == [("lin", "output")] * 2 + [
        ("lin", "grad_output")
    ] * 2


@pytest.mark.parametrize("mode", [torch.no_grad, torch.inference_mode])
def test_no_grad_and_inference_mode_check_outputs_and_register_no_grad_hooks(mode: type) -> None:
    model = MLP()
    poison(model.fc1)
    tensorpeek.break_on(model, action="record")
    tensorpeek.break_on(model, "grad_output", action="raise")
    with mode():
        model(torch.randn(2, 4))
    assert [(h.module, h.site) for h in api.hits()] == [("fc1", "output")]


def test_data_parallel_on_cpu_reports_paths_under_the_wrapper() -> None:
    model = nn.DataParallel(MLP())
    poison(model.module.fc2)
    tensorpeek.break_on(model, action="record")
    model(torch.randn(2, 4))
    assert [h.module for h in api.hits()] == ["module.fc2"]


def test_runtime_evaluation_error_is_reported_once_and_disables_the_breakpoint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tensorpeek.summary import stats

    model = MLP()
    bp = tensorpeek.break_on(model, "output", "log(absmax) > 100", action="raise")

    def failing(x: torch.Tensor, names: list[str]) -> dict:
        # conditions themselves cannot fail (log(0) is -inf); a statistic that does is simulated
        raise ValueError("math domain error")

    monkeypatch.setattr(stats, "compute", failing)
    with pytest.warns(RuntimeWarning, match="math domain error") as caught:
        train(model, steps=3)
    assert len([w for w in caught if "tensorpeek" in str(w.message)]) == 1
    assert not bp.enabled and bp.error is not None and "ValueError" in bp.error
    assert bp.to_dict()["error"] == bp.error


def test_raise_action_raises_with_the_hit_report_and_log_prints_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    model = MLP()
    poison(model.fc2)
    with (
        api.breakpoints("*:output:nonfinite", action="raise"),
        pytest.raises(tensorpeek.TensorBreakpointError) as info,
    ):
        model(torch.randn(2, 4))
    assert info.value.hit.module == "fc2" and "fc2 (Linear) output at step" in str(info.value)
    assert not HOOKS.installed  # the context manager disarmed on the way out
    with api.breakpoints(model, "output", "nonfinite", action="log"):
        model(torch.randn(2, 4))
    assert "fc2 (Linear) output" in capsys.readouterr().err


def test_pdb_action_calls_the_breakpoint_hook_in_a_frame_with_hit_tensor_and_module(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sys

    seen: dict[str, object] = {}

    def hook() -> None:
        frame = sys._getframe(1)
        seen.update({k: frame.f_locals.get(k) for k in ("hit", "tensor", "module")})
        seen["current"] = api.current_hit()

    monkeypatch.setattr(sys, "breakpointhook", hook)
    model = MLP()
    poison(model.head)
    tensorpeek.break_on(model, action="pdb")
    model(torch.randn(2, 4))
    assert seen["module"] is model.head and seen["current"] is seen["hit"]
    assert torch.isnan(seen["tensor"]).any()  # type: ignore[arg-type]
    assert api.current_hit() is None


def test_deferred_checks_read_flags_once_per_step_and_name_the_first_module() -> None:
    from tensorpeek.engine import deferred

    deferred.set_mode("always")
    model = MLP()
    tensorpeek.break_on(model, action="record")
    tensorpeek.break_on(model, "grad_output", action="record")
    syncs = deferred.QUEUE.syncs
    train(model, steps=2)
    assert api.hits() == [] and deferred.QUEUE.syncs - syncs == 2
    poison(model.fc2)
    train(model, steps=1)
    found = [(h.module, h.site, h.deferred, h.step) for h in api.hits()]
    assert found[0] == ("fc2", "output", True, 2)
    # by the step boundary autograd has freed the activation: the hit keeps what was saved
    assert api.hits()[0].summary == {
        "shape": [16, 8],
        "dtype": "torch.float32",
        "device": "cpu",
        "freed": True,
    }


def test_exact_true_checks_at_the_layer_even_when_deferring() -> None:
    from tensorpeek.engine import deferred

    deferred.set_mode("always")
    model = MLP()
    poison(model.fc1)
    tensorpeek.break_on(model, action="raise", exact=True)
    with pytest.raises(tensorpeek.TensorBreakpointError):
        model(torch.randn(2, 4))


def test_history_keeps_each_watched_modules_norm_per_step_for_free() -> None:
    model = MLP()
    tensorpeek.break_on(model, action="raise")
    x = torch.randn(5, 4)
    model(x)
    with torch.no_grad():  # oracle: float64 norm of fc1's output
        expected = torch.nn.functional.linear(
            x.double(), model.fc1.weight.double(), model.fc1.bias.double()
        ).norm()
    entry = history.layer_history()["fc1"]["output"][-1]
    assert entry["step"] == 0 and entry["summary"]["norm"] == pytest.approx(
        float(expected), rel=1e-5
    )
    assert history.live_modules() == ["", "fc1", "act1", "fc2", "act2", "head"]


def test_breakpoint_dicts_round_trip_through_set_breakpoints() -> None:
    first = tensorpeek.break_on("fc*", "grad_output", "norm > 10", once=True, action="log")
    as_json = [bp.to_dict() for bp in api.list_breakpoints()]
    assert as_json[0]["id"] == first.id and as_json[0]["hit_count"] == 0
    again = api.set_breakpoints(as_json)
    assert [bp.spec for bp in again] == [first.spec]


def test_norm_records_share_the_ring_of_full_records_and_start_over_after_clear() -> None:
    history.clear()
    history.record("fc1", "output", 3, {"norm": 1.0, "max": 2.0})
    history.record_norm("fc1", "output", 3, 5.0)  # the same step: its norm replaced
    history.record_norm("fc1", "output", 4, 6.0)
    assert history.layer_history()["fc1"]["output"] == [
        {"step": 3, "summary": {"norm": 5.0, "max": 2.0}},
        {"step": 4, "summary": {"norm": 6.0}},
    ]
    for step in range(5, 5 + history.HISTORY_LENGTH):
        history.record_norm("fc1", "output", step, float(step))
    ring = history.layer_history()["fc1"]["output"]
    assert len(ring) == history.HISTORY_LENGTH and ring[-1]["step"] == 4 + history.HISTORY_LENGTH
    history.clear()
    history.record_norm("fc1", "output", 9, 1.5)  # a fresh series, not the forgotten ring
    assert history.layer_history() == {"fc1": {"output": [{"step": 9, "summary": {"norm": 1.5}}]}}
