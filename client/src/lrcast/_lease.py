"""The step engine shared by the PyTorch and Keras shims: leases, prefetching, outages, ranks.

A :class:`LeaseEngine` hands the shim a :class:`Block` of consecutive steps and says at which
step it wants to be asked again (:attr:`LeaseEngine.check_at`); between those steps the shim
serves values from the block's lists without calling it (microseconds a step).

- ``mode="lease"``: a block comes from ``GET /v1/runs/{run}/lease``; once a block is half
  served, the next one is fetched on a background thread, ready before it is needed.
- ``mode="per_step"``: one ``GET /v1/runs/{run}/lr?step=S`` a step.
- Outages (connection errors and 5xx after the client's retries): ``on_outage`` decides.
  ``"extrapolate"`` computes the next blocks locally from the last timeline the server sent
  (a lease's timeline holds the edits scheduled past it), with :func:`lrcast.segment_block`
  (the server's own computation, so the same floats unless an edit is made after that
  lease), ``"hold"`` keeps the last values, ``"wait"`` blocks until the server answers,
  ``"raise"`` raises. One :class:`OutageWarning` per outage; the server's values come back at
  the first block fetched once it answers again.
- Distributed: only the leader (rank 0) talks to the server; every new block goes through
  ``broadcast``, a collective every rank calls at the same steps.
- Groups: :func:`group_columns` gives each parameter group its lr column; an edit that changes
  how many groups the run has never stops training (:class:`GroupOrder`).
"""

from __future__ import annotations

import logging
import threading
import warnings
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from lrcast._client import Client
from lrcast._errors import LrcastError
from lrcast._evaluate import CompiledDocument, compile_document
from lrcast._exceptions import (
    ConflictError,
    InvalidRequestError,
    ServerError,
    TooManyRequestsError,
    TransportError,
)
from lrcast._schemas import MAX_LEASE_BLOCKS, Lease, TimelineSegment
from lrcast._timeline import segment_block, segment_for

log = logging.getLogger("lrcast")

Mode = Literal["lease", "per_step"]
OnOutage = Literal["extrapolate", "hold", "wait", "raise"]
Source = Literal["server", "extrapolated", "held"]
Column = list[float | None]
MODES: tuple[Mode, ...] = ("lease", "per_step")
ON_OUTAGE: tuple[OnOutage, ...] = ("extrapolate", "hold", "wait", "raise")
PREFETCH_AT = 0.5
"""Fraction of a block served before the next one is fetched."""
AHEAD_STEPS = 8192
"""How many steps an adaptive lease may cover at most (under the server's default limit)."""
WAIT_BACKOFF = 5.0
"""Longest pause between two attempts with ``on_outage="wait"``."""


class OutageWarning(UserWarning):
    """The server could not be reached: the shim goes on as ``on_outage`` says."""


@dataclass(frozen=True)
class Block:
    """Values for steps ``[start, stop)``: every curve and every group's lr, a list entry per
    step (``None`` where the segment governing that step has no such curve or group)."""

    start: int
    stop: int
    values: dict[str, Column]
    groups: dict[str, Column]
    source: Source = "server"
    order: GroupOrder | None = field(default=None, compare=False, repr=False)
    """The engine's record of how groups were matched (set on the blocks it hands out)."""

    def row(self, step: int) -> dict[str, float]:
        """Every curve defined at ``step``."""
        i = step - self.start
        return {name: v for name, column in self.values.items() if (v := column[i]) is not None}


def _outage(error: BaseException) -> bool:
    """Whether ``error`` means the server is away (rather than refusing the request)."""
    return isinstance(error, TransportError | ServerError | TooManyRequestsError)


class _Pending:
    """A fetch running on a daemon thread (never holds up interpreter exit)."""

    def __init__(self, step: int, fn: Callable[[], Any]) -> None:
        self.step = step
        self._done = threading.Event()
        self._result: Any = None
        self._error: BaseException | None = None
        threading.Thread(target=self._run, args=(fn,), name="lrcast-lease", daemon=True).start()

    def _run(self, fn: Callable[[], Any]) -> None:
        try:
            self._result = fn()
        except BaseException as exc:  # handed to the thread that waits for it
            self._error = exc
        finally:
            self._done.set()

    def done(self) -> bool:
        return self._done.is_set()

    @property
    def ok(self) -> bool:
        """Done without an error."""
        return self._done.is_set() and self._error is None

    def result(self, timeout: float | None = None) -> Any:
        self._done.wait(timeout)
        if self._error is not None:
            raise self._error
        return self._result


@dataclass
class _Known:
    """What the leader knows to compute blocks itself: the last timeline, the block size and
    the documents of the versions it names."""

    size: int = 0
    timeline: list[TimelineSegment] = field(default_factory=list)
    documents: dict[tuple[str, int], Any] = field(default_factory=dict)
    compiled: dict[tuple[str, int, int | None, int | None], CompiledDocument] = field(
        default_factory=dict
    )


Broadcast = Callable[[Any], Any]
"""A collective: the leader passes its payload, the others ``None``; all get the leader's."""


class LeaseEngine:
    """Blocks of a run's values for a shim, from the server or, in an outage, from itself."""

    def __init__(
        self,
        run: str,
        *,
        client: Client,
        mode: Mode = "lease",
        on_outage: OnOutage = "extrapolate",
        blocks: int = 1,
        broadcast: Broadcast | None = None,
        leader: bool = True,
        owns_client: bool = False,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        if on_outage not in ON_OUTAGE:
            raise ValueError(f"on_outage must be one of {', '.join(ON_OUTAGE)}, not {on_outage!r}")
        if blocks < 1:
            raise ValueError("blocks must be >= 1")
        self.run = run
        self.client = client
        self.mode: Mode = mode
        self.on_outage: OnOutage = on_outage
        self.blocks = blocks
        self.ahead = blocks
        """Blocks asked per lease now: doubles whenever the trainer had to wait for one, so a
        lease lasts longer than a round trip (never more than :data:`AHEAD_STEPS` steps)."""
        self.broadcast = broadcast
        self.leader = leader
        self.owns_client = owns_client
        # A client made for this engine is closed with it, even if no one calls close().
        self._finalizer = weakref.finalize(self, client.close) if owns_client else None
        self.block: Block | None = None
        self.check_at = -1
        """The shim calls :meth:`advance` again at this step (or outside :attr:`block`)."""
        self.in_outage = False
        self._known = _Known()
        self._pending: _Pending | None = None
        self._documents: _Pending | None = None
        self._documents_lock = threading.Lock()
        self._timeline_block = -1
        self._warned_report = False
        self._warned_conflict = False
        self._outage_source: Source | None = None
        """How the current outage is bridged (None: no outage), said once per change."""
        self._order = GroupOrder(run)

    # -- what the shim calls -------------------------------------------------------------------

    def advance(self, step: int) -> Block:
        """The block holding ``step``; fetches (or computes) a new one when needed. Under
        distributed training every rank must call it at the same steps (they do: a new block
        is needed at the same steps everywhere)."""
        self._order.step = step
        current = self.block
        if current is not None and current.start <= step < current.stop:
            if self.leader and self.mode == "lease":
                self._prefetch(current.stop)
            self.check_at = current.stop
            return current
        # Attached here, on every rank: a broadcast block carries no order of its own.
        block = replace(self._new_block(step), order=self._order)
        self.block = block
        self.check_at = block.stop
        if self.leader and self.mode == "lease":
            self.check_at = block.start + max(int((block.stop - block.start) * PREFETCH_AT), 1)
            self.check_at = min(self.check_at, block.stop)
        return block

    def report(self, step: int, name: str | None, value: float) -> None:
        """Report a metric for reduce-on-plateau runs (the leader only; an outage warns once
        unless ``on_outage="raise"``). ``name=None`` reports under the run's
        ``plateau.metric`` (``"loss"`` for a run without one), as the server has it then.

        A report the server refuses as a conflict (409: that step was reported with another
        value, as a job resumed from a checkpoint does when it trains those steps again) is
        not fatal: it warns once and training goes on."""
        if not self.leader:
            return
        try:
            result = self.client.report(self.run, step, name, value)
            self._warned_report = False
            if result.plateau is not None and result.plateau.reduced:
                # The reduction is an edit past the leases: learn it now, in case the server
                # is away by the time it is reached.
                _Pending(step, self._learn_run)
        except ConflictError as exc:
            if not self._warned_conflict:
                self._warned_conflict = True
                what = repr(name) if name is not None else "the plateau metric"
                warnings.warn(
                    f"lrcast: run {self.run!r} refused the report of {what} at step {step} "
                    f"({exc.detail}): the first value reported is kept, as happens when a "
                    "resumed job re-trains steps it reported; training goes on (said once)",
                    UserWarning,
                    stacklevel=3,
                )
        except LrcastError as exc:
            if not _outage(exc) or self.on_outage == "raise":
                raise
            if not self._warned_report:
                self._warned_report = True  # again after the server has answered
                what = repr(name) if name is not None else "the plateau metric"
                warnings.warn(
                    f"lrcast: could not report {what} at step {step} for run {self.run!r} "
                    f"({exc}); metrics are dropped while the server is away",
                    OutageWarning,
                    stacklevel=3,
                )

    def close(self) -> None:
        if self._finalizer is not None:
            self._finalizer()

    # -- obtaining blocks ----------------------------------------------------------------------

    def _new_block(self, step: int) -> Block:
        if self.broadcast is None:
            return self._obtain(step)
        if not self.leader:
            kind, payload = self.broadcast(None)
            if kind == "error":
                raise LrcastError(f"rank 0 could not get the values of step {step}: {payload}")
            block: Block = payload
            return block
        try:
            block = self._obtain(step)
        except BaseException as exc:
            self.broadcast(("error", f"{type(exc).__name__}: {exc}"))
            raise
        self.broadcast(("ok", block))
        return block

    def _obtain(self, step: int) -> Block:
        """The leader's block for ``step``: from the server, else as ``on_outage`` says."""
        pending, self._pending = self._pending, None
        try:
            if self.mode == "per_step":
                block = self._per_step(step)
            elif pending is not None and pending.step <= step:
                if self.in_outage and not pending.done():
                    # Still away: go on locally, and let that attempt finish in the background.
                    self._pending = pending
                    return self._fallback(step, None)
                if not pending.done():
                    self._grow()
                block = self._from_lease(pending.result())
                if not block.start <= step < block.stop:
                    block = self._from_lease(self._fetch(step))
            else:
                block = self._from_lease(self._fetch(step))
        except LrcastError as exc:
            if not _outage(exc):
                raise
            return self._fallback(step, exc)
        if self.in_outage:
            self.in_outage = False
            self._outage_source = None
            log.warning("lrcast: the server answers again; run %r is back on its values", self.run)
        return block

    def _fetch(self, step: int) -> Lease:
        try:
            lease = self.client.lease(self.run, step, blocks=self.ahead)
        except InvalidRequestError:
            if self.ahead == self.blocks:
                raise
            # A server configured for shorter leases: go back to what the caller asked.
            self.ahead = self.blocks
            lease = self.client.lease(self.run, step, blocks=self.ahead)
        # Learnt as it arrives (a prefetch, too): the documents of the edits it names are
        # then fetched before an outage could need them.
        self._learn(lease.block, lease.timeline)
        return lease

    def _grow(self) -> None:
        """The trainer outran the round trip: ask for twice as many blocks next time."""
        size = self._known.size or 1
        limit = max(min(MAX_LEASE_BLOCKS, AHEAD_STEPS // size), self.blocks)
        self.ahead = min(self.ahead * 2, limit)

    def _prefetch(self, step: int) -> None:
        pending = self._pending
        if pending is not None and (not pending.done() or (pending.ok and pending.step >= step)):
            return
        self._pending = _Pending(step, lambda: self._fetch(step))

    def _from_lease(self, lease: Lease) -> Block:
        return Block(lease.from_step, lease.to_step, lease.values, lease.groups)

    def _per_step(self, step: int) -> Block:
        if self._known.size == 0 or step // self._known.size != self._timeline_block:
            run = self.client.get_run(self.run)
            self._learn(run.block, run.timeline)
            self._timeline_block = step // run.block
        answer = self.client.lr(self.run, step)
        groups: dict[str, Column] = {name: [value] for name, value in answer.groups.items()}
        values: dict[str, Column] = {name: [value] for name, value in answer.values.items()}
        return Block(step, step + 1, values, groups)

    def _learn(self, size: int, timeline: Sequence[TimelineSegment]) -> None:
        """Keep the run's latest timeline and fetch (in the background) the documents of the
        versions it names, so an outage can be bridged locally."""
        self._known.size = size
        if timeline:
            self._known.timeline = list(timeline)
        with self._documents_lock:
            if self._missing() and (self._documents is None or self._documents.done()):
                self._documents = _Pending(0, self._fetch_documents)

    def _learn_run(self) -> None:
        try:
            run = self.client.get_run(self.run)
        except LrcastError as exc:
            log.info("lrcast: could not read run %r: %s", self.run, exc)
            return
        self._learn(run.block, run.timeline)

    def _missing(self) -> list[tuple[str, int]]:
        """The versions the known timeline names whose documents are not known yet."""
        keys = dict.fromkeys((s.schedule, s.version) for s in self._known.timeline)
        return [key for key in keys if key not in self._known.documents]

    def _fetch_documents(self) -> None:
        # Until none is missing: a timeline learnt meanwhile may name more.
        while missing := self._missing():
            for name, version in missing:
                try:
                    read = self.client.get_version(name, version)
                except LrcastError as exc:
                    log.info("lrcast: could not fetch %s version %s: %s", name, version, exc)
                    return
                self._known.documents[(name, version)] = read.document

    # -- outages -------------------------------------------------------------------------------

    def _fallback(self, step: int, error: LrcastError | None) -> Block:
        if self.on_outage == "raise":
            assert error is not None
            raise error
        if self.on_outage == "wait":
            return self._wait(step, error)
        size = self._known.size or (self.block.stop - self.block.start if self.block else 0)
        if self.block is None or size == 0:
            assert error is not None
            raise LrcastError(
                f"lrcast: no values for run {self.run!r} yet and the server is away "
                f"({error}); nothing to {self.on_outage} from"
            ) from error
        first = step // size * size
        block = None
        if self.on_outage == "extrapolate":
            block = self._extrapolate(first, size)
        held = block is None
        if block is None:
            block = self._hold(first, size)
        self.in_outage = True
        if block.source != self._outage_source:
            # Once per outage, and again if extrapolating has to give way to holding.
            self._outage_source = block.source
            how = (
                "keeps its last values (hold)"
                if held
                else "continues on its last timeline, evaluated locally (extrapolate)"
            )
            if held and self.on_outage == "extrapolate":
                how += ": the document of the version it reaches was not fetched before the outage"
            warnings.warn(
                f"lrcast: the server at {self.client.url} is unreachable ({error or 'no answer'}); "
                f"from step {step}, run {self.run!r} {how} until it answers again",
                OutageWarning,
                stacklevel=5,
            )
        self._prefetch(first + size)
        return block

    def _extrapolate(self, first: int, size: int) -> Block | None:
        known = self._known
        if not known.timeline:
            return None
        segment = segment_for(known.timeline, first)
        assert isinstance(segment, TimelineSegment)
        document = known.documents.get((segment.schedule, segment.version))
        if document is None:
            return None
        key = (segment.schedule, segment.version, segment.total_steps, segment.steps_per_epoch)
        compiled = known.compiled.get(key)
        if compiled is None:
            compiled = compile_document(
                document, total_steps=segment.total_steps, steps_per_epoch=segment.steps_per_epoch
            )
            known.compiled[key] = compiled
        values = segment_block(compiled, segment, first // size, size)
        lr = values["lr"]
        return Block(
            first,
            first + size,
            {name: column.tolist() for name, column in values.items()},
            {name: (lr * m).tolist() for name, m in segment.groups.items()},
            "extrapolated",
        )

    def _hold(self, first: int, size: int) -> Block:
        last = self.block
        assert last is not None
        i = last.stop - last.start - 1
        return Block(
            first,
            first + size,
            {name: [column[i]] * size for name, column in last.values.items()},
            {name: [column[i]] * size for name, column in last.groups.items()},
            "held",
        )

    def _wait(self, step: int, error: LrcastError | None) -> Block:
        warnings.warn(
            f"lrcast: the server at {self.client.url} is unreachable ({error or 'no answer'}); "
            f"run {self.run!r} waits at step {step} until it answers",
            OutageWarning,
            stacklevel=5,
        )
        attempt = 0
        while True:
            threading.Event().wait(min(self.client.retry.delay(attempt) + 0.05, WAIT_BACKOFF))
            attempt += 1
            try:
                if self.mode == "per_step":
                    return self._per_step(step)
                return self._from_lease(self._fetch(step))
            except LrcastError as exc:
                if not _outage(exc):
                    raise


class GroupOrder:
    """How a run's groups have met an optimizer's parameter groups without a ``name`` key,
    which are matched by order: one per engine, on the blocks it hands out.

    At the first binding (when the scheduler is built) a run with another number of groups
    than the optimizer is refused. Later, when an edit adds or drops a group (or a group is
    added to the optimizer), training goes on: optimizer group ``i`` takes the run's ``i``-th
    group, a group past the run's takes the run's lr, and one warning says so per change."""

    def __init__(self, run: str) -> None:
        self.run = run
        self.step = 0
        """The step the engine was last asked for: where a binding starts."""
        self.bound = False
        self.start = -1
        self.through = -1
        """Steps from :attr:`start` to this one have been checked."""
        self.count = -1
        self.names: tuple[str, ...] | None = None
        """The run's groups at the last step checked."""

    def check(self, block: Block, spans: list[_Span], count: int) -> None:
        """Refuse (first binding) or warn about each change to a mismatch in ``spans``."""
        start = max(block.start, self.step)
        # Steps checked already (the same block bound again) are skipped, unless the optimizer
        # changed or the trainer went back (a resume).
        again = count != self.count or start < self.start
        first = start if again else max(start, self.through)
        self.start = start
        for begin, stop, names in spans:
            at = max(begin, first)
            if at >= stop or (names == self.names and count == self.count):
                continue
            self.names, self.count = names, count
            if not names or len(names) == count:
                continue
            listed = ", ".join(names)
            if not self.bound and at == start:
                raise ValueError(
                    f"the run has {len(names)} groups ({listed}) but the optimizer has {count} "
                    "parameter groups: give each a 'name' key to match them"
                )
            if count > len(names):
                how = f"param_groups[{len(names)}:] take the run's lr"
            else:
                unused = names[count:]
                how = f"the run's {', '.join(unused)} {'is' if len(unused) == 1 else 'are'} unused"
            warnings.warn(
                f"lrcast: from step {at}, run {self.run!r} has {len(names)} groups ({listed}) "
                f"but the optimizer has {count} parameter groups without a 'name' key: they "
                f"are matched by order and {how}; training goes on (said once per change; "
                "give each group a 'name' key to match it by name)",
                UserWarning,
                stacklevel=6,
            )
        self.count = count
        self.through = block.stop if again else max(self.through, block.stop)


_Span = tuple[int, int, tuple[str, ...]]
"""Steps ``[begin, stop)`` over which the run has the same groups, in its order."""


def _spans(block: Block) -> list[_Span]:
    """The stretches of ``block`` over which the same groups are defined (a block of several
    server blocks may hold an edit: a group is ``None`` where its segment does not have it)."""
    if not any(None in column for column in block.groups.values()):
        return [(block.start, block.stop, tuple(block.groups))]
    spans: list[_Span] = []
    for i in range(block.stop - block.start):
        names = tuple(name for name, column in block.groups.items() if column[i] is not None)
        step = block.start + i
        if spans and spans[-1][2] == names:
            spans[-1] = (spans[-1][0], step + 1, names)
        else:
            spans.append((step, step + 1, names))
    return spans


def group_columns(block: Block, names: Sequence[str | None], count: int) -> list[Column]:
    """The lr column for each of ``count`` parameter groups: matched by name to the run's
    groups (a name the run does not list gets the run's lr), else by order, step by step to
    the groups the run has at that step (a group past them gets the run's lr); every group gets
    the run's lr when the run has no groups. Where a named group's lr is undefined (an edit
    dropped it), the run's lr stands in. A mismatch in number is refused at the first binding,
    and warned about once per change after it (:class:`GroupOrder`)."""
    order = block.order if block.order is not None else GroupOrder("")
    columns = _columns(block, names, count, order)
    order.bound = True
    return columns


def _columns(
    block: Block, names: Sequence[str | None], count: int, order: GroupOrder
) -> list[Column]:
    lr = block.values["lr"]
    if not block.groups:
        return [lr] * count
    if any(name is not None for name in names):
        chosen = [block.groups.get(name) if name is not None else None for name in names]
        return [
            column
            if None not in column
            else [g if g is not None else x for g, x in zip(column, lr, strict=True)]
            for column in (c if c is not None else lr for c in chosen)
        ]
    spans = _spans(block)
    order.check(block, spans, count)
    if len(spans) == 1 and len(spans[0][2]) >= count:
        return [block.groups[name] for name in spans[0][2][:count]]
    columns: list[Column] = [[] for _ in range(count)]
    for begin, stop, run_names in spans:
        a, b = begin - block.start, stop - block.start
        for i, column in enumerate(columns):
            column.extend(block.groups[run_names[i]][a:b] if i < len(run_names) else lr[a:b])
    return columns
