"""Helpers shared by the client tests."""

from __future__ import annotations

from typing import Any

import lrcast
from lrcast._client import Client
from lrcast._schemas import TimelineSegment

COSINE: dict[str, Any] = {
    "description": "cosine over 1000 steps, constant momentum",
    "curves": {
        "lr": {"type": "cosine", "start": 0.1, "end": 0.0, "steps": 1000},
        "momentum": {"type": "constant", "value": 0.85},
        "weight_decay": {"type": "constant", "value": 5e-5},
    },
}


def expected(client: Client, run: str, steps: range) -> dict[str, list[float]]:
    """Every curve (and group lr) of ``run`` at ``steps`` from its timeline as the server has it
    now, computed with the schedule language alone: what the server answers, bit for bit."""
    read = client.get_run(run)
    size = read.block
    out: dict[str, list[float]] = {}
    for step in steps:
        k = step // size
        segment = lrcast.segment_for(read.timeline, k * size)
        assert isinstance(segment, TimelineSegment)
        document = client.get_version(segment.schedule, segment.version).document
        compiled = lrcast.compile_document(
            document, total_steps=segment.total_steps, steps_per_epoch=segment.steps_per_epoch
        )
        values = lrcast.segment_block(compiled, segment, k, size)
        for name, column in values.items():
            out.setdefault(name, []).append(float(column[step - k * size]))
        for name, multiplier in segment.groups.items():
            lr = values["lr"][step - k * size]
            out.setdefault(f"group:{name}", []).append(float(lr * multiplier))
    return out
