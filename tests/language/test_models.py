"""Validation of schedule documents: what is refused, and how the error names the field."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

import lrcast


def doc(lr: dict[str, Any], **curves: dict[str, Any]) -> dict[str, Any]:
    return {"curves": {"lr": lr, **curves}}


def errors_of(data: Any) -> list[str]:
    with pytest.raises(lrcast.ScheduleValidationError) as info:
        lrcast.parse_document(data)
    return [str(e) for e in info.value.errors]


COSINE = {"type": "cosine", "start": 0.4, "steps": 100}


def test_spec_example_document_is_valid_and_keeps_its_fields() -> None:
    data = {
        "description": "ResNet-50, 90 epochs",
        "curves": {
            "lr": {
                "type": "warmup",
                "steps": 500,
                "start": 0.0,
                "then": {"type": "cosine", "start": 0.4, "end": 0.0, "steps": 44500},
            },
            "weight_decay": {"type": "constant", "value": 5e-5},
        },
    }
    document = lrcast.parse_document(data)
    assert document.description == "ResNet-50, 90 epochs"
    assert isinstance(document.curves["lr"], lrcast.Warmup)
    assert document.model_dump(exclude_unset=True) == data


def test_nested_error_names_the_path_without_type_tags() -> None:
    bad = doc({"type": "warmup", "steps": 5, "then": {"type": "cosine", "start": 1, "steps": 0}})
    assert errors_of(bad) == ["curves.lr.then.steps: must be > 0"]


def test_errors_inside_lists_name_the_index() -> None:
    bad = doc(
        {
            "type": "sequence",
            "curves": [COSINE, {"type": "constant", "value": -1}],
            "boundaries": [100],
        }
    )
    assert errors_of(bad) == ["curves.lr.curves.1.value: must be >= 0.0"]


def test_every_bad_field_is_reported_at_once() -> None:
    bad = doc({"type": "cosine", "start": -1, "steps": 0}, momentum={"type": "constant"})
    assert errors_of(bad) == [
        "curves.lr.start: must be >= 0.0",
        "curves.lr.steps: must be > 0",
        "curves.momentum.value: field required",
    ]


@pytest.mark.parametrize(
    ("lr", "expected"),
    [
        ({"type": "nope"}, "curves.lr: unknown type 'nope'"),
        ({"value": 1}, "curves.lr: a curve needs a 'type'"),
        ({"type": "constant", "value": 1, "extra": 2}, "curves.lr.extra: unknown field"),
        ({"type": "constant", "value": float("nan")}, "curves.lr.value: must be finite"),
        ({"type": "constant", "value": float("inf")}, "curves.lr.value: must be finite"),
        ({"type": "constant", "value": "0.1"}, "curves.lr.value: must be a valid number"),
        ({"type": "step", "start": 1, "every": 10, "factor": 2}, "curves.lr.factor: must be <= 1"),
        ({"type": "step", "start": 1, "every": 1.5}, "curves.lr.every: must be an integer"),
        ({"type": "step", "start": 1, "every": True}, "curves.lr.every: must be an integer"),
        ({"type": "step", "start": 1, "every": "3x"}, "curves.lr.every: '3x' is not a duration"),
        (
            {"type": "step", "start": 1, "every": "\u0665\u0660ep"},
            "curves.lr.every: '\u0665\u0660ep' is not",
        ),
        ({"type": "step", "start": 1, "every": "\uff15%"}, "curves.lr.every: '\uff15%' is not a"),
        ({"type": "step", "start": 1, "every": "5ep\n"}, "curves.lr.every: '5ep\\n' is not a"),
        ({"type": "step", "start": 1, "every": "101%"}, "curves.lr.every: '101%' is more than"),
        (
            {"type": "piecewise", "boundaries": [5, 3], "values": [1, 2, 3]},
            "curves.lr: boundaries must be strictly increasing",
        ),
        (
            {"type": "piecewise", "boundaries": [5], "values": [1]},
            "curves.lr: values must have one more entry than boundaries",
        ),
        (
            {"type": "multistep", "start": 1, "milestones": [5, 3]},
            "curves.lr.milestones: milestones must be sorted",
        ),
        (
            {"type": "sequence", "curves": [COSINE, COSINE], "boundaries": [0]},
            "curves.lr: boundaries must be > 0",
        ),
        (
            {"type": "sequence", "curves": [COSINE, COSINE], "boundaries": []},
            "curves.lr: boundaries must have one entry fewer than curves",
        ),
        (
            {"type": "exponential", "start": 1, "factor": 1.1},
            "curves.lr: a growing exponential (factor > 1) needs a limit",
        ),
        (
            {"type": "one_cycle", "peak": 1, "steps": 3},
            "curves.lr: warm_fraction * steps must be more than 1 step",
        ),
        (
            {"type": "one_cycle", "peak": 1, "steps": 100, "warm_fraction": 1.0},
            "curves.lr.warm_fraction: must be < 1",
        ),
        (
            {"type": "interpolate", "points": [[0, 1], [10, 0]], "shape": "exponential"},
            "curves.lr: exponential interpolation needs every value > 0",
        ),
        (
            {"type": "interpolate", "points": [[10, 1], [10, 0]]},
            "curves.lr: point steps must be strictly increasing",
        ),
        (
            {"type": "warmup", "steps": 5, "shape": "exponential", "then": COSINE},
            "curves.lr: an exponential warmup needs start > 0",
        ),
        ({"type": "cyclic", "base": 0, "peak": 1, "up": 0}, "curves.lr.up: must be > 0"),
        (
            {"type": "cyclic", "base": 0, "peak": 1, "up": 2, "mode": "exp_range", "gamma": 1.5},
            "curves.lr.gamma: must be <= 1",
        ),
        ({"type": "expression", "expr": "t.__class__"}, "curves.lr.expr"),
        ({"type": "expression", "expr": "x + 1"}, "curves.lr.expr"),
    ],
)
def test_bad_curves_are_refused_with_the_field_and_reason(
    lr: dict[str, Any], expected: str
) -> None:
    (message,) = errors_of(doc(lr))
    assert message.startswith(expected) or (expected in message), message


def test_a_document_needs_an_lr_curve() -> None:
    assert errors_of({"curves": {"momentum": {"type": "constant", "value": 0.9}}}) == [
        "curves: a document must have an 'lr' curve"
    ]


@pytest.mark.parametrize("name", ["LR", "1lr", "lr-x", "l" * 65, ""])
def test_curve_names_must_match_the_pattern(name: str) -> None:
    (message,) = errors_of({"curves": {"lr": COSINE, name: COSINE}})
    assert message.startswith("curves: curve name")


def test_unknown_top_level_fields_are_refused() -> None:
    assert errors_of({"curves": {"lr": COSINE}, "descripton": "typo"}) == [
        "descripton: unknown field"
    ]


def test_nesting_deeper_than_eight_levels_is_refused() -> None:
    curve: dict[str, Any] = COSINE
    for _ in range(7):
        curve = {"type": "warmup", "steps": 1, "then": curve}
    lrcast.parse_document(doc(curve))  # eight levels: fine
    deeper = {"type": "warmup", "steps": 1, "then": curve}
    (message,) = errors_of(doc(deeper))
    assert "nests deeper than 8 levels" in message


def test_very_deep_raw_nesting_is_refused_without_recursion_error() -> None:
    curve: dict[str, Any] = COSINE
    for _ in range(100_000):
        curve = {"type": "product", "curves": [curve]}
    (message,) = errors_of(doc(curve))
    assert "nests deeper" in message


def test_more_than_256_curves_are_refused() -> None:
    curves = {f"c{i}": {"type": "constant", "value": 1.0} for i in range(256)}
    curves["lr"] = COSINE
    (message,) = errors_of({"curves": curves})
    assert message == "curves: must have at most 256 entries"


def test_lists_longer_than_ten_thousand_entries_are_refused() -> None:
    lr = {"type": "multistep", "start": 1.0, "milestones": list(range(10_001))}
    (message,) = errors_of(doc(lr))
    assert message == "curves.lr.milestones: must have at most 10000 entries"
    lrcast.parse_document(doc({**lr, "milestones": list(range(10_000))}))


def test_expressions_longer_than_a_thousand_characters_are_refused() -> None:
    expr = "t" + " + t" * 250
    assert len(expr) > 1000
    (message,) = errors_of(doc({"type": "expression", "expr": expr}))
    assert message.startswith("curves.lr.expr: must have at most 1000 characters")


def test_documents_over_256_kib_are_refused_as_json_text() -> None:
    text = json.dumps(doc(COSINE, note={"type": "constant", "value": 0.0})).replace(
        '"note"', '"note"' + " " * (256 * 1024)
    )
    (message,) = errors_of(text)
    assert "larger than 262144 bytes" in message


def test_documents_over_256_kib_are_refused_as_dicts_and_models() -> None:
    points = [[100_000_000 + i, 0.123456789012345] for i in range(lrcast.MAX_LIST)]
    big = doc({"type": "interpolate", "points": points})
    (message,) = errors_of(big)
    assert message == "the document is larger than 262144 bytes"
    with pytest.raises(lrcast.ScheduleValidationError, match="larger than 262144 bytes"):
        lrcast.evaluate(big, 0)
    # Just under the limit, as stored (compact JSON of the fields given), is accepted.
    under = doc({"type": "interpolate", "points": points[:8000]})
    assert len(json.dumps(under, separators=(",", ":"))) < lrcast.MAX_DOCUMENT_BYTES
    assert lrcast.evaluate(under, 0)["lr"] == 0.123456789012345


def test_json_text_is_accepted_and_invalid_json_is_refused() -> None:
    assert lrcast.parse_document(json.dumps(doc(COSINE))).curves["lr"] == lrcast.Cosine(
        start=0.4, steps=100
    )
    (message,) = errors_of("{not json")
    assert message.startswith("not valid JSON")


def test_every_list_holds_at_most_10000_entries_piecewise_values_too() -> None:
    n = lrcast.MAX_LIST
    ok = {"type": "piecewise", "boundaries": list(range(1, n)), "values": [0.5] * n}
    assert lrcast.evaluate(ok, n) == 0.5
    wide = {"type": "piecewise", "boundaries": list(range(1, n + 1)), "values": [0.5] * (n + 1)}
    (message,) = errors_of(doc(wide))
    assert message.startswith("curves.lr.values: ")
    assert "10000" in message


def test_the_json_schema_requires_a_curves_type_as_validation_does() -> None:
    schema = lrcast.ScheduleDocument.model_json_schema()
    curves = {
        name: definition
        for name, definition in schema["$defs"].items()
        if "const" in definition.get("properties", {}).get("type", {})
    }
    assert len(curves) == len(lrcast.CURVE_TYPES)
    for definition in curves.values():
        assert definition["required"][0] == "type"
        assert "default" not in definition["properties"]["type"]
    validator = jsonschema.Draft202012Validator(schema)
    untyped = {"curves": {"lr": {"value": 0.1}}}
    assert not validator.is_valid(untyped)
    assert errors_of(untyped)
    assert validator.is_valid({"curves": {"lr": {"type": "constant", "value": 0.1}}})
    assert lrcast.Constant(value=0.1).type == "constant"  # in Python the tag has its default


def test_evaluate_takes_a_document_or_a_curve_as_json_text() -> None:
    document = doc(COSINE, wd={"type": "constant", "value": 5e-5})
    assert lrcast.evaluate(json.dumps(document), 50) == lrcast.evaluate(document, 50)
    assert lrcast.evaluate(json.dumps(COSINE).encode(), 50) == lrcast.evaluate(COSINE, 50)
    with pytest.raises(lrcast.ScheduleValidationError, match="duplicate key 'steps'"):
        lrcast.evaluate('{"type": "cosine", "start": 0.4, "steps": 1, "steps": 2}', 0)


def test_defaults_are_the_ones_spec_gives() -> None:
    one_cycle = lrcast.parse_curve({"type": "one_cycle", "peak": 1, "steps": 100})
    assert isinstance(one_cycle, lrcast.OneCycle)
    assert (one_cycle.warm_fraction, one_cycle.shape, one_cycle.three_phase) == (0.3, "cos", False)
    cosine = lrcast.parse_curve({"type": "cosine", "start": 1, "steps": 100})
    assert isinstance(cosine, lrcast.Cosine)
    assert (cosine.end, cosine.exponent, cosine.cycles, cosine.periodic) == (0.0, 1.0, 0.5, False)
    step = lrcast.parse_curve({"type": "step", "start": 1, "every": 10})
    assert isinstance(step, lrcast.Step)
    assert step.factor == 0.1


def test_every_curve_type_has_an_example_that_validates() -> None:
    for name, model in lrcast.CURVE_TYPES.items():
        examples = (model.model_config.get("json_schema_extra") or {}).get("examples")  # type: ignore[union-attr]
        assert examples, name
        for example in examples:
            assert lrcast.parse_curve(example).type == name


def test_parse_curve_errors_have_paths_relative_to_the_curve() -> None:
    with pytest.raises(lrcast.ScheduleValidationError) as info:
        lrcast.parse_curve({"type": "warmup", "steps": 5, "then": {"type": "cosine", "start": 1}})
    assert [str(e) for e in info.value.errors] == ["then.steps: field required"]


def test_json_text_with_a_duplicated_key_is_refused() -> None:
    text = '{"curves": {"lr": {"type": "constant", "value": 1}, "lr": {"type": "constant"}}}'
    assert errors_of(text) == ["not valid JSON: duplicate key 'lr'"]
