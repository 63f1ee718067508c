"""Answer records: everything the per-step answer of one run needs, over one committed block,
in one object.

A process answering thousands of runs at random finds little of any run's state in the CPU
caches, and each object an answer reads costs a trip to main memory. So each run's current
block is kept as one record: a bytearray with the block's floats, the group multipliers and
the run's last step seen, plus the schedule and version it answers with. The per-step answer
reads that record and nothing else of the run (plus a few shared objects that stay cached: the
layout and its structs). A record only ever holds a block within the run's horizon, which no
edit can change, so it is never stale.

Layout of a record's bytes (native byte order; what every answer reads comes first)::

    k, seen, noted            3 int64: the block, the highest step answered from it, and
                              whether that step waits in the process's next flush
    multipliers, constants    float64: each group's multiplier, then each curve that is
                              constant over the block (one float each)
    rows                      float64: the other curves, step by step
"""

from __future__ import annotations

import struct
import threading
import weakref
from collections.abc import Callable, Mapping
from operator import itemgetter

import numpy as np
import numpy.typing as npt
import orjson

_HEADER = struct.Struct("=qqq")
_SEEN = struct.Struct("=qq")
_STEP = struct.Struct("=q")
_SEEN_AT = 8
_NOTED_AT = 16


class Layout:
    """Where the floats of a record lie, for one block size, list of curves (and which are
    constant over the block) and list of groups. Interned: records alike share one."""

    __slots__ = ("__weakref__", "groups", "head", "names", "pick", "row", "rows", "size")

    def __init__(
        self, size: int, names: tuple[str, ...], constant: tuple[bool, ...], groups: tuple[str, ...]
    ) -> None:
        self.size = size
        self.names = names
        self.groups = groups
        heads = sum(constant)
        self.head = struct.Struct(f"={len(groups) + heads}d")
        """The multipliers, then the constant curves."""
        self.row = struct.Struct(f"={len(names) - heads}d")
        """The other curves at one step."""
        self.rows = _HEADER.size + self.head.size
        """Where the rows start."""
        # Where each curve's float is in head + row: its place, in the curves' order.
        first_constant = len(groups)
        first_varying = len(groups) + heads
        places: list[int] = []
        for fixed in constant:
            if fixed:
                places.append(first_constant)
                first_constant += 1
            else:
                places.append(first_varying)
                first_varying += 1
        self.pick: Callable[[tuple[float, ...]], tuple[float, ...]] = _getter(places)


def _getter(places: list[int]) -> Callable[[tuple[float, ...]], tuple[float, ...]]:
    if len(places) == 1:
        (place,) = places
        return lambda floats: (floats[place],)
    return itemgetter(*places)


_layouts: weakref.WeakValueDictionary[tuple[object, ...], Layout] = weakref.WeakValueDictionary()
_layouts_lock = threading.Lock()


def _layout(
    size: int, names: tuple[str, ...], constant: tuple[bool, ...], groups: tuple[str, ...]
) -> Layout:
    key = (size, names, constant, groups)
    with _layouts_lock:
        layout = _layouts.get(key)
        if layout is None:
            layout = _layouts[key] = Layout(size, names, constant, groups)
        return layout


class Record(bytearray):
    """One run's answers over one committed block (see the module's docstring)."""

    __slots__ = ("layout", "schedule", "version")
    layout: Layout
    schedule: str
    version: int


def pack(
    values: Mapping[str, npt.NDArray[np.float64]],
    k: int,
    groups: tuple[tuple[str, float], ...],
    schedule: str,
    version: int,
    *,
    seen: int = -1,
) -> Record:
    """The record of block ``k`` with these values (a constant curve may be given as a
    zero-stride view: it is stored once)."""
    columns = [np.asarray(c, dtype=np.float64) for c in values.values()]
    size = len(columns[0])
    constant = tuple(_is_constant(c) for c in columns)
    layout = _layout(size, tuple(values), constant, tuple(name for name, _ in groups))
    pairs = list(zip(columns, constant, strict=True))
    head = [m for _, m in groups] + [float(c[0]) for c, fixed in pairs if fixed]
    varying = [c for c, fixed in pairs if not fixed]
    rows = np.stack(varying, axis=1).tobytes() if varying else b""
    header = _HEADER.pack(k, seen, 0)
    # Joined first: a bytearray grown piece by piece keeps spare room.
    record = Record(b"".join([header, layout.head.pack(*head), rows]))
    record.layout = layout
    record.schedule = schedule
    record.version = version
    return record


def _is_constant(column: npt.NDArray[np.float64]) -> bool:
    if column.size > 1 and column.strides[0] == 0:
        return True
    bits = column.view(np.int64)
    return column.size > 1 and bool((bits == bits[0]).all())  # the same float, bit for bit


def block_of(record: Record) -> int:
    k: int = _STEP.unpack_from(record)[0]
    return k


def render(record: Record, run: str, step: int) -> bytes | None:
    """The JSON answer for ``step``, or None if the record's block does not hold it."""
    layout = record.layout
    i = step - _STEP.unpack_from(record)[0] * layout.size
    if not 0 <= i < layout.size:
        return None
    head = layout.head.unpack_from(record, _HEADER.size)
    floats = layout.pick(head + layout.row.unpack_from(record, layout.rows + i * layout.row.size))
    # zip without strict=: on the hot path the keyword costs more than the rest of the call.
    values = dict(zip(layout.names, floats))  # noqa: B905 (as long by construction)
    lr = values["lr"]
    # The head starts with the multipliers: zip stops after them.
    groups = {name: lr * m for name, m in zip(layout.groups, head)}  # noqa: B905
    return orjson.dumps(
        {
            "run": run,
            "step": step,
            "lr": lr,
            "values": values,
            "groups": groups,
            "schedule": record.schedule,
            "version": record.version,
        }
    )


def seen(record: Record) -> tuple[int, bool]:
    """The highest step answered from ``record`` (-1: none), and whether it waits in the
    process's next flush."""
    step, noted = _SEEN.unpack_from(record, _SEEN_AT)
    return step, bool(noted)


def see(record: Record, step: int) -> bool:
    """Keep ``step`` as seen if it is the highest; True when the record then needs queueing
    for the next flush (the caller queues it and calls :func:`set_noted`)."""
    seen, noted = _SEEN.unpack_from(record, _SEEN_AT)
    if step <= seen:
        return False
    _STEP.pack_into(record, _SEEN_AT, step)
    return not noted


def set_noted(record: Record, noted: bool) -> None:
    _STEP.pack_into(record, _NOTED_AT, noted)
