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

Two stores keep them, with one interface: :class:`NativeAnswers`, a table in the compiled
``_answertable`` module where each run is one slot holding its name, block, last step seen and
first floats (an answer reads that slot and its step's row, not four Python objects), and
:class:`PyAnswers`, the records above in a bounded map, where the module is not built.
"""

from __future__ import annotations

import logging
import struct
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Mapping
from operator import itemgetter
from typing import Protocol

import numpy as np
import numpy.typing as npt
import orjson

from lrcast_server.cache import LRU

try:
    from lrcast_server import _answertable
except ImportError:  # not compiled (no C compiler where it was installed): PyAnswers serves
    _answertable = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

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
    layout, head, rows = _split(values, groups)
    header = _HEADER.pack(k, seen, 0)
    # Joined first: a bytearray grown piece by piece keeps spare room.
    record = Record(b"".join([header, head, rows]))
    record.layout = layout
    record.schedule = schedule
    record.version = version
    return record


def _split(
    values: Mapping[str, npt.NDArray[np.float64]], groups: tuple[tuple[str, float], ...]
) -> tuple[Layout, bytes, bytes]:
    """A block's layout, the bytes of its head floats and those of its rows."""
    columns = [np.asarray(c, dtype=np.float64) for c in values.values()]
    size = len(columns[0])
    constant = tuple(_is_constant(c) for c in columns)
    layout = _layout(size, tuple(values), constant, tuple(name for name, _ in groups))
    pairs = list(zip(columns, constant, strict=True))
    head = [m for _, m in groups] + [float(c[0]) for c, fixed in pairs if fixed]
    varying = [c for c, fixed in pairs if not fixed]
    rows = np.stack(varying, axis=1).tobytes() if varying else b""
    return layout, layout.head.pack(*head), rows


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
    floats = head + layout.row.unpack_from(record, layout.rows + i * layout.row.size)
    return _render(layout, record.schedule, record.version, run, step, floats)


def _render(
    layout: Layout, schedule: str, version: int, run: str, step: int, floats: tuple[float, ...]
) -> bytes:
    """The JSON answer from a step's floats: the head's, then the row's."""
    # zip without strict=: on the hot path the keyword costs more than the rest of the call.
    values = dict(zip(layout.names, layout.pick(floats)))  # noqa: B905 (as long by construction)
    lr = values["lr"]
    # The floats start with the multipliers: zip stops after them.
    groups = {name: lr * m for name, m in zip(layout.groups, floats)}  # noqa: B905
    return orjson.dumps(
        {
            "run": run,
            "step": step,
            "lr": lr,
            "values": values,
            "groups": groups,
            "schedule": schedule,
            "version": version,
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


# -- the stores ----------------------------------------------------------------------------------

Queue = Callable[[str], None]
"""Called with a run that has just begun to wait for the next flush of steps seen."""
Evicted = Callable[[str, int, bool], None]
"""Called with a run dropped to stay within the bounds, its last step seen and whether it
waited for a flush."""


class Answers(Protocol):
    """Each run's current block, packed for the per-step answer, within a number of runs and a
    weight in bytes (the first put, or put again, is the first dropped)."""

    @property
    def weight(self) -> int:
        """The bytes held, as the bound counts them."""

    def answer(self, run: str, step: int) -> bytes | None:
        """The JSON answer for ``step`` if the run's block holds it (noting the step seen)."""

    def block(self, run: str) -> int | None:
        """The block the run holds."""

    def put(
        self,
        run: str,
        values: Mapping[str, npt.NDArray[np.float64]],
        k: int,
        groups: tuple[tuple[str, float], ...],
        schedule: str,
        version: int,
        seen: int,
    ) -> None:
        """Hold block ``k`` for ``run``, with its last step seen."""

    def seen(self, run: str) -> tuple[int, bool] | None:
        """The run's last step seen and whether it waits for a flush."""

    def unnote(self, run: str) -> int | None:
        """Take the run out of the next flush; its last step seen."""

    def pop(self, run: str) -> tuple[int, bool] | None:
        """Drop the run; as :meth:`seen` said."""

    def __len__(self) -> int: ...


def make_answers(
    max_entries: int, max_bytes: int, queue: Queue, evicted: Evicted, *, native: bool = True
) -> Answers:
    """The native store if it is built (and ``native``), else the Python one."""
    if native and _answertable is not None:
        return NativeAnswers(max_entries, max_bytes, queue, evicted)
    if native:
        log.warning(
            "the compiled answer table is not built (no C compiler where lrcast-server was "
            "installed?): answering from Python records, slower with thousands of runs"
        )
    return PyAnswers(max_entries, max_bytes, queue, evicted)


class PyAnswers:
    """Records (above) in a bounded map."""

    def __init__(self, max_entries: int, max_bytes: int, queue: Queue, evicted: Evicted) -> None:
        self._queue = queue
        self._evicted = evicted
        self._records: LRU[str, Record] = LRU(
            max_entries, weigh=len, max_weight=max_bytes, refresh=False, on_evict=self._drop
        )

    @property
    def weight(self) -> int:
        return self._records.weight

    def _drop(self, run: str, record: Record) -> None:
        self._evicted(run, *seen(record))

    def answer(self, run: str, step: int) -> bytes | None:
        record = self._records.get(run)
        if record is None:
            return None
        body = render(record, run, step)
        if body is not None and see(record, step):
            set_noted(record, True)
            self._queue(run)
        return body

    def block(self, run: str) -> int | None:
        record = self._records.get(run)
        return None if record is None else block_of(record)

    def put(
        self,
        run: str,
        values: Mapping[str, npt.NDArray[np.float64]],
        k: int,
        groups: tuple[tuple[str, float], ...],
        schedule: str,
        version: int,
        seen: int,
    ) -> None:
        self._records.put(run, pack(values, k, groups, schedule, version, seen=seen))

    def seen(self, run: str) -> tuple[int, bool] | None:
        record = self._records.get(run)
        return None if record is None else seen(record)

    def unnote(self, run: str) -> int | None:
        record = self._records.get(run)
        if record is None:
            return None
        # Unmarked before the step is read: a step seen meanwhile is queued again.
        set_noted(record, False)
        return seen(record)[0]

    def pop(self, run: str) -> tuple[int, bool] | None:
        record = self._records.get(run)
        self._records.pop(run)
        return None if record is None else seen(record)

    def __len__(self) -> int:
        return len(self._records)


class NativeAnswers:
    """The compiled answer table, with the order runs were put in and their weights kept
    here (read only when a run's block changes, never by an answer)."""

    def __init__(self, max_entries: int, max_bytes: int, queue: Queue, evicted: Evicted) -> None:
        assert _answertable is not None
        self._table = _answertable.Table(max_entries)
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        self._queue = queue
        self._evicted = evicted
        self._order: OrderedDict[str, int] = OrderedDict()
        self._labels: list[tuple[Layout, str, int]] = []
        self._label_index: dict[tuple[Layout, str, int], int] = {}
        self._lock = threading.Lock()
        self.weight = 0

    def answer(self, run: str, step: int) -> bytes | None:
        hit = self._table.answer(run, step)
        if hit is None:
            return None
        label, floats, queue = hit
        layout, schedule, version = self._labels[label]
        if queue:
            self._queue(run)
        return _render(layout, schedule, version, run, step, floats)

    def block(self, run: str) -> int | None:
        k: int | None = self._table.block(run)
        return k

    def put(
        self,
        run: str,
        values: Mapping[str, npt.NDArray[np.float64]],
        k: int,
        groups: tuple[tuple[str, float], ...],
        schedule: str,
        version: int,
        seen: int,
    ) -> None:
        layout, head, rows = _split(values, groups)
        weight = _HEADER.size + len(head) + len(rows)  # as PyAnswers weighs its record
        with self._lock:
            key = (layout, schedule, version)
            label = self._label_index.get(key)
            if label is None:
                # Kept for good (a few per schedule version): the table holds the index.
                label = self._label_index[key] = len(self._labels)
                self._labels.append(key)
            self.weight -= self._order.pop(run, 0)
            while self._order and (
                len(self._order) >= self._max_entries or self.weight + weight > self._max_bytes
            ):
                oldest, dropped = self._order.popitem(last=False)
                self.weight -= dropped
                popped = self._table.pop(oldest)
                if popped is not None:
                    self._evicted(oldest, *popped)
            self._table.put(run, k, label, layout.size, head, rows, seen)
            self._order[run] = weight
            self.weight += weight

    def seen(self, run: str) -> tuple[int, bool] | None:
        found: tuple[int, bool] | None = self._table.seen(run)
        return found

    def unnote(self, run: str) -> int | None:
        step: int | None = self._table.unnote(run)
        return step

    def pop(self, run: str) -> tuple[int, bool] | None:
        with self._lock:
            self.weight -= self._order.pop(run, 0)
            popped: tuple[int, bool] | None = self._table.pop(run)
            return popped

    def __len__(self) -> int:
        return len(self._table)
