"""The public evaluator: inputs, outputs, durations, errors, blocks and run segments."""

from __future__ import annotations

import numpy as np
import pytest

import lrcast
from lrcast._durations import DURATION_FIELDS
from tests.language.strategies import duration_fields

COSINE = {"type": "cosine", "start": 0.4, "end": 0.0, "steps": 100}
DOC = {
    "curves": {
        "lr": {"type": "warmup", "steps": 10, "then": COSINE},
        "momentum": {"type": "constant", "value": 0.9},
    }
}


def test_an_int_step_gives_a_float_and_a_sequence_gives_a_float64_array() -> None:
    value = lrcast.evaluate(COSINE, 50)
    assert type(value) is float
    assert value == pytest.approx(0.2)
    values = lrcast.evaluate(COSINE, [0, 50, 100])
    assert isinstance(values, np.ndarray)
    assert values.dtype == np.float64
    np.testing.assert_allclose(values, [0.4, 0.2, 0.0], atol=1e-16)
    assert lrcast.evaluate(COSINE, np.arange(3, dtype=np.uint8)).shape == (3,)
    assert lrcast.evaluate(COSINE, np.int64(50)) == value


def test_a_document_gives_every_named_curve() -> None:
    assert lrcast.evaluate(DOC, 5) == {"lr": 0.2, "momentum": 0.9}
    values = lrcast.evaluate(DOC, [0, 10])
    np.testing.assert_array_equal(values["lr"], [0.0, 0.4])
    np.testing.assert_array_equal(values["momentum"], [0.9, 0.9])


def test_models_are_accepted_as_well_as_dicts() -> None:
    document = lrcast.parse_document(DOC)
    assert lrcast.evaluate(document, 5) == {"lr": 0.2, "momentum": 0.9}
    assert lrcast.evaluate(lrcast.Cosine(start=0.4, steps=100), 100) == 0.0


def test_empty_step_lists_give_empty_arrays() -> None:
    assert lrcast.evaluate(COSINE, []).shape == (0,)


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        (-1, "steps: steps must be >= 0"),
        ([0, -5], "steps: steps must be >= 0"),
        (lrcast.MAX_STEP + 1, f"steps: steps must be <= {lrcast.MAX_STEP}"),
        (np.array([2**63 - 1], dtype=np.uint64), "steps: steps must be <= "),
        (np.array([2**64 - 1], dtype=np.uint64), "steps: steps must be <= "),
        (1.5, "steps: steps must be integers"),
        ([1.0, 2.0], "steps: steps must be integers"),
        (True, "steps: steps must be integers"),
        ([[1, 2]], "steps: steps must be integers"),
        ("10", "steps: steps must be integers"),
    ],
)
def test_bad_steps_are_refused_clearly(steps: object, message: str) -> None:
    with pytest.raises(lrcast.EvaluationError) as info:
        lrcast.evaluate(COSINE, steps)
    assert str(info.value).startswith(message)


def test_epoch_and_percent_durations_resolve_against_the_context() -> None:
    curve = {"type": "step", "start": 1.0, "every": "2ep", "factor": 0.5}
    np.testing.assert_array_equal(
        lrcast.evaluate(curve, [0, 199, 200, 400], steps_per_epoch=100), [1, 1, 0.5, 0.25]
    )
    seq = {
        "type": "sequence",
        "curves": [{"type": "constant", "value": 1}, {"type": "constant", "value": 2}],
        "boundaries": ["12.5%"],
    }
    np.testing.assert_array_equal(lrcast.evaluate(seq, [124, 125], total_steps=1000), [1, 2])


def test_every_field_that_takes_a_duration_is_resolved() -> None:
    # The fields whose schema admits "12ep" or "5%" against those the resolver knows: a field
    # missing from the resolver would reach the evaluator unresolved.
    assert duration_fields() == DURATION_FIELDS | {"boundaries", "milestones", "points"}


def test_a_timescale_in_epochs_is_resolved() -> None:
    curve = {"type": "inverse_sqrt", "peak": 0.1, "warmup": "1ep", "timescale": "2ep"}
    in_steps = {"type": "inverse_sqrt", "peak": 0.1, "warmup": 50, "timescale": 100}
    steps = [0, 25, 50, 150, 1000]
    np.testing.assert_array_equal(
        lrcast.evaluate(curve, steps, steps_per_epoch=50), lrcast.evaluate(in_steps, steps)
    )
    with pytest.raises(lrcast.EvaluationError) as info:
        lrcast.evaluate({**curve, "timescale": "0ep"}, 0, steps_per_epoch=50)
    assert str(info.value) == "timescale: must be > 0 (once its durations are resolved)"


def test_fractional_durations_round_to_the_nearest_step_halves_up() -> None:
    seq = {
        "type": "sequence",
        "curves": [{"type": "constant", "value": 1}, {"type": "constant", "value": 2}],
        "boundaries": ["1.5ep"],
    }
    # 1.5 * 3 = 4.5 steps: rounds up to 5
    np.testing.assert_array_equal(lrcast.evaluate(seq, [4, 5], steps_per_epoch=3), [1, 2])


@pytest.mark.parametrize(
    ("curve", "message"),
    [
        (
            {"type": "cosine", "start": 1, "steps": "3ep"},
            "steps: '3ep' is in epochs and no steps_per_epoch is given",
        ),
        (
            {"type": "warmup", "steps": "5%", "then": COSINE},
            "steps: '5%' is a share of the run and no total_steps is given",
        ),
        (
            {"type": "multistep", "start": 1, "milestones": [10, "5%"]},
            "milestones.1: '5%' is a share of the run and no total_steps is given",
        ),
    ],
)
def test_missing_context_is_a_clear_error_never_a_guess(curve: dict, message: str) -> None:
    with pytest.raises(lrcast.EvaluationError) as info:
        lrcast.evaluate(curve, 0)
    assert str(info.value) == message


def test_durations_that_resolve_to_invalid_values_are_refused_with_the_path() -> None:
    doc = {"curves": {"lr": {"type": "cosine", "start": 1, "steps": "0.1%"}}}
    with pytest.raises(lrcast.EvaluationError) as info:
        lrcast.compile_document(doc, total_steps=100)
    assert str(info.value) == "curves.lr.steps: must be > 0 (once its durations are resolved)"


def test_bad_context_values_are_refused() -> None:
    with pytest.raises(lrcast.EvaluationError, match="total_steps: must be an integer"):
        lrcast.evaluate(COSINE, 0, total_steps=0)


def test_an_expression_that_goes_negative_is_an_error_naming_the_step() -> None:
    doc = {"curves": {"lr": {"type": "expression", "expr": "0.1 - t / 1000"}}}
    compiled = lrcast.compile_document(doc)
    np.testing.assert_allclose(compiled.block(0, 100)["lr"][:2], [0.1, 0.099])
    with pytest.raises(lrcast.EvaluationError) as info:
        compiled.block(1, 100)
    assert info.value.step == 101
    assert str(info.value).startswith("curves.lr: gives -0.001")
    assert "at step 101; values must be finite and >= 0" in str(info.value)


def test_an_expression_that_overflows_is_an_error_not_an_infinity() -> None:
    with pytest.raises(lrcast.EvaluationError, match="gives inf at step 0"):
        lrcast.evaluate({"type": "expression", "expr": "9 ** 9 ** 9"}, 0)


def test_a_growing_exponential_from_zero_stays_zero_where_its_factor_overflows() -> None:
    # 2 ** 5000 is inf, and 0 * inf would be NaN; torch's ExponentialLR from lr 0 stays 0.
    curve = {"type": "exponential", "start": 0.0, "factor": 2.0, "every": 1, "limit": 1.0}
    steps = [0, 1, 1074, 5000, lrcast.MAX_STEP]
    np.testing.assert_array_equal(lrcast.evaluate(curve, steps), [0.0] * len(steps))


def test_values_past_a_sequence_boundary_never_evaluate_the_earlier_part() -> None:
    # "100 - t" would be negative after step 100, but the sequence hands over at 50.
    seq = {
        "type": "sequence",
        "curves": [{"type": "expression", "expr": "100 - t"}, {"type": "constant", "value": 1}],
        "boundaries": [50],
    }
    np.testing.assert_array_equal(lrcast.evaluate(seq, [49, 1000]), [51, 1])


def test_a_block_covers_exactly_its_steps() -> None:
    compiled = lrcast.compile_document(DOC)
    block = compiled.block(3, 4)
    np.testing.assert_array_equal(block["lr"], lrcast.evaluate(DOC, [12, 13, 14, 15])["lr"])


def test_cosine_restarts_restart_exactly_even_where_a_float_log_would_miss() -> None:
    curve = {"type": "cosine_restarts", "start": 1.0, "period": 1, "period_factor": 3}
    # cycles start at 0, 1, 4, 13, 40, 121, 364: a float log puts 121 in the wrong cycle.
    assert lrcast.evaluate(curve, [1, 4, 13, 40, 121, 364]).tolist() == [1.0] * 6
    tens = {"type": "cosine_restarts", "start": 1.0, "period": 1, "period_factor": 10}
    assert lrcast.evaluate(tens, [1, 11, 111, 1111, 11111]).tolist() == [1.0] * 5


def test_cosine_restarts_stop_at_end_after_the_last_cycle() -> None:
    curve = {"type": "cosine_restarts", "start": 1.0, "end": 0.1, "period": 2, "cycles": 2}
    np.testing.assert_allclose(lrcast.evaluate(curve, [0, 2, 3, 4, 100]), [1, 1, 0.55, 0.1, 0.1])


def test_one_cycle_holds_its_end_value_after_the_last_step() -> None:
    curve = {"type": "one_cycle", "peak": 1.0, "steps": 10, "shape": "linear"}
    values = lrcast.evaluate(curve, [9, 10, 11, 10**6])
    assert values[1:].tolist() == [4e-06] * 3


class TestSegments:
    document = lrcast.compile_document(DOC)

    def test_scale_multiplies_lr_only(self) -> None:
        segment = lrcast.Segment(from_step=0, schedule="s", version=1, scale=2.0)
        block = lrcast.segment_block(self.document, segment, 0, 16)
        plain = self.document.block(0, 16)
        np.testing.assert_array_equal(block["lr"], plain["lr"] * 2.0)
        np.testing.assert_array_equal(block["momentum"], plain["momentum"])

    def test_offset_shifts_the_step_the_curves_see(self) -> None:
        segment = lrcast.Segment(from_step=0, schedule="s", version=1, offset=5)
        block = lrcast.segment_block(self.document, segment, 0, 8)
        np.testing.assert_array_equal(block["lr"], lrcast.evaluate(DOC, range(5, 13))["lr"])

    def test_a_negative_offset_holds_the_first_value(self) -> None:
        segment = lrcast.Segment(from_step=0, schedule="s", version=1, offset=-3)
        block = lrcast.segment_block(self.document, segment, 0, 4)
        np.testing.assert_array_equal(block["lr"], lrcast.evaluate(DOC, [0, 0, 0, 0])["lr"])

    def test_a_restart_clock_starts_the_curves_at_the_segment(self) -> None:
        segment = lrcast.Segment(from_step=32, schedule="s", version=2, clock="restart")
        block = lrcast.segment_block(self.document, segment, 2, 16)
        np.testing.assert_array_equal(block["lr"], self.document.block(0, 16)["lr"])

    def test_segment_for_finds_the_governing_segment(self) -> None:
        timeline = [
            lrcast.Segment(from_step=0, schedule="s", version=1),
            lrcast.Segment(from_step=256, schedule="s", version=2),
        ]
        assert lrcast.segment_for(timeline, 255).version == 1
        assert lrcast.segment_for(timeline, 256).version == 2


def test_an_exponential_is_start_up_to_begin_whatever_its_limit() -> None:
    # SPEC: start for t <= begin, else start * factor ** p clipped at limit. A limit on the far
    # side of start (a floor above a decay's start) clips only past begin.
    curve = {"type": "exponential", "start": 0.1, "factor": 0.5, "begin": 10, "limit": 0.2}
    assert lrcast.evaluate(curve, [0, 10, 11, 50]).tolist() == [0.1, 0.1, 0.2, 0.2]
    growth = {"type": "exponential", "start": 0.4, "factor": 2.0, "begin": 5, "limit": 0.3}
    assert lrcast.evaluate(growth, [5, 6]).tolist() == [0.4, 0.3]
