"""What one server process holds: the database, its caches, and the run states it answers from.

A :class:`RunState` is a timeline read from the database together with the horizon known to be
durable for it. Steps up to that horizon are answered from memory: edits only ever land past
the horizon, so no edit can make a cached answer wrong. Past it, :meth:`Core.commit` raises the
horizon with one conditional single-row update (``WHERE horizon < :new AND timeline_rev =
:rev``), reading the run again whenever the update finds the row changed.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import threading
import time
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from functools import partial

import lrcast
from lrcast._schemas import TimelineSegment
from lrcast._timeline import check_groups
from lrcast_server import answers, observability, storage
from lrcast_server.auth import TokenCache
from lrcast_server.cache import LRU
from lrcast_server.db import Database
from lrcast_server.errors import NotFoundError, ServiceUnavailableError, database_down
from lrcast_server.settings import Settings
from lrcast_server.timeline import (
    BlockValues,
    StoredSegment,
    Timeline,
    block_bytes,
    block_end,
    block_key,
    compute_block,
    document_key,
    stored_binding,
)

log = logging.getLogger("lrcast_server")

DocumentKey = tuple[str, int, int | None, int | None]
COMMIT_ATTEMPTS = 100
SEEN_FLUSH_SHARE = 50


class BlockSource:
    """The blocks of every segment with one :func:`block_key`: interned, so runs that would
    compute the same blocks share them, and a block is cached under ``(source, k)``, a key
    as cheap to hash and compare as two integers."""

    __slots__ = ("__weakref__", "key")

    def __init__(self, key: tuple[object, ...]) -> None:
        self.key = key


Label = tuple[str, int, tuple[tuple[str, float], ...]]
"""What an answer names besides the values: schedule, version, and each group's multiplier."""


@dataclass(slots=True, eq=False)
class RunState:
    """A run as this process knows it: valid for every step up to ``horizon``.

    Fixed once made: a new horizon or timeline is a new state. What answers need is kept in
    flat tuples here rather than behind the timeline's models.
    """

    timeline: Timeline
    horizon: int
    compiled: dict[DocumentKey, lrcast.CompiledDocument]
    archived: bool
    sources: tuple[BlockSource, ...]
    """The block source of each segment of the timeline."""
    labels: tuple[Label, ...]
    """The label of each segment of the timeline."""

    def index(self, step: int) -> int:
        """The position of the segment governing ``step``."""
        return 0 if len(self.sources) == 1 else self.timeline.index(step)


def to_segment(record: storage.SegmentRecord) -> StoredSegment:
    # The stored record and the API model have the same fields, by design: one vocabulary.
    return StoredSegment.model_validate(dataclasses.asdict(record))


def to_record(segment: TimelineSegment) -> storage.SegmentRecord:
    follow, binding_offset = stored_binding(segment)  # left out of model_dump: not shown
    return storage.SegmentRecord(
        **segment.model_dump(), follow=follow, binding_offset=binding_offset
    )


class Core:
    """The process-wide state every service function works with."""

    def __init__(self, settings: Settings, database: Database) -> None:
        self.settings = settings
        self.database = database
        self.reads_need_token = settings.reads_need_token
        self.tokens = TokenCache(database, settings.token_cache_seconds)
        self.documents: LRU[DocumentKey, lrcast.CompiledDocument] = LRU(
            settings.document_cache_size
        )
        self.blocks: LRU[tuple[BlockSource, int], BlockValues] = LRU(
            settings.block_cache_size,
            weigh=block_bytes,
            max_weight=settings.block_cache_mb * 2**20,
            refresh=False,
        )
        self.runs: LRU[str, RunState] = LRU(settings.run_cache_size, refresh=False)
        # Each run's current block, packed for the per-step answer (answers.py).
        self.answers = answers.make_answers(
            settings.run_cache_size,
            settings.answer_cache_mb * 2**20,
            self._queue_seen,
            self._evicted,
            native=settings.native_answers,
        )
        # Every compiled document a cached run still holds, so runs share one copy of each.
        self._in_use: weakref.WeakValueDictionary[DocumentKey, lrcast.CompiledDocument] = (
            weakref.WeakValueDictionary()
        )
        self._sources: weakref.WeakValueDictionary[tuple[object, ...], BlockSource] = (
            weakref.WeakValueDictionary()
        )
        self._runs_lock = threading.Lock()
        self._noted: list[str] = []
        self._seen_forgotten: dict[str, int] = {}
        self._seen_lock = threading.Lock()
        self._seen_due = time.monotonic() + settings.seen_flush_seconds

    # -- documents and blocks -----------------------------------------------------------------

    def compile(
        self, key: DocumentKey, document: dict[str, object] | None = None
    ) -> lrcast.CompiledDocument:
        """The compiled document for a version and context (read from the database if
        ``document`` is not given and it is not cached)."""
        compiled = self.documents.get(key) or self._in_use.get(key)
        if compiled is None:
            if document is None:
                with self.database.read() as conn:
                    record = storage.get_version(conn, key[0], key[1])
                if record is None:
                    raise NotFoundError(f"schedule {key[0]!r} has no version {key[1]}")
                document = record.document
            compiled = lrcast.compile_document(document, total_steps=key[2], steps_per_epoch=key[3])
            self._in_use[key] = compiled
        self.documents.put(key, compiled)
        return compiled

    def block(self, state: RunState, k: int, *, keep: bool = True) -> BlockValues:
        """Block ``k`` of a run, computed whole (and cached, unless ``keep`` is False)."""
        timeline = state.timeline
        block = timeline.block
        at = state.index(k * block)
        key = (state.sources[at], k)
        segment = timeline.segments[at]
        values = self.blocks.get(key)
        if values is not None:
            observability.BLOCK_CACHE_HIT.inc()
        else:
            observability.BLOCK_CACHE_MISS.inc()
            values = compute_block(state.compiled[document_key(segment)], segment, k, block)
            if keep:
                self.blocks.put(key, values)
        # Groups are not part of the cached block: each run's are checked here.
        check_groups(values["lr"], segment.groups, k * block)
        return values

    def _source(self, key: tuple[object, ...]) -> BlockSource:
        with self._runs_lock:
            source = self._sources.get(key)
            if source is None:
                source = self._sources[key] = BlockSource(key)
            return source

    # -- run states ---------------------------------------------------------------------------

    def cached(self, run_id: str) -> RunState | None:
        return self.runs.get(run_id)

    def load(self, run_id: str) -> RunState:
        """Read a run's timeline and horizon (one snapshot) and cache it."""
        with self.database.read() as conn:
            run = storage.get_run(conn, run_id)
            if run is None:
                raise NotFoundError(f"no run {run_id!r}")
            segments = tuple(to_segment(s) for s in storage.get_segments(conn, run_id))
            timeline = Timeline(run.id, run.timeline_rev, run.block, segments)
            missing = [
                key
                for key in timeline.documents()
                if self.documents.get(key) is None and key not in self._in_use
            ]
            versions = {
                (v.name, v.version): v.document
                for v in storage.get_versions(conn, [(key[0], key[1]) for key in missing])
            }
        compiled = {
            key: self.compile(key, versions.get((key[0], key[1]))) for key in timeline.documents()
        }
        sources = tuple(self._source(block_key(s, timeline.block)) for s in segments)
        labels = tuple((s.schedule, s.version, tuple(s.groups.items())) for s in segments)
        state = RunState(timeline, run.horizon, compiled, run.archived, sources, labels)
        return self._keep(state)

    def _keep(self, state: RunState) -> RunState:
        """Cache ``state`` unless this process already knows a newer one; return the newest."""
        with self._runs_lock:
            current = self.runs.get(state.timeline.run)
            if current is not None and (
                current.timeline.rev > state.timeline.rev
                or (current.timeline.rev == state.timeline.rev and current.horizon >= state.horizon)
            ):
                return current
            self.runs.put(state.timeline.run, state)
            return state

    def forget(self, run_id: str) -> None:
        """Drop a run's cached state and answer record after this process edited it (its last
        step seen is kept until the next flush has written it)."""
        with self._runs_lock:
            self.runs.pop(run_id)
            popped = self.answers.pop(run_id)
            if popped is not None:
                seen, _ = popped
                if seen >= 0:
                    with self._seen_lock:
                        forgotten = self._seen_forgotten.get(run_id, -1)
                        self._seen_forgotten[run_id] = max(forgotten, seen)

    def commit(self, run_id: str, first: int, last: int, *, seen: int | None = None) -> RunState:
        """A state of the run whose horizon covers blocks ``first`` to ``last``, raising the
        durable horizon to the end of ``last`` if needed. Those blocks are computed before they
        are committed, so a step that cannot be evaluated never moves the horizon."""
        state = self.cached(run_id)
        for _ in range(COMMIT_ATTEMPTS):
            if state is None:
                state = self.load(run_id)
            block = state.timeline.block
            last_step = block_end(last, block)
            if state.horizon >= last_step:
                return state
            for k in range(first, last + 1):
                self.block(state, k)
            raised = self.database.transact(
                partial(
                    storage.raise_horizon,
                    run_id=run_id,
                    horizon=last_step,
                    timeline_rev=state.timeline.rev,
                    seen=seen,
                )
            )
            if raised:
                observability.HORIZON_RAISES.inc()
                higher = dataclasses.replace(state, horizon=last_step)
                return self._keep(higher)
            state = None
        raise ServiceUnavailableError(f"run {run_id!r} is being edited too often; try again")

    def block_size(self, run_id: str) -> int:
        state = self.cached(run_id) or self.load(run_id)
        return state.timeline.block

    def hold(self, state: RunState, k: int) -> None:
        """Keep block ``k`` (which must lie within ``state``'s horizon) as the run's current
        one for the per-step answer: the block its trainer asked about last."""
        run = state.timeline.run
        size = state.timeline.block
        if block_end(k, size) > state.horizon:
            raise ValueError(f"block {k} of run {run!r} is not committed")
        if self.answers.block(run) == k:
            return
        schedule, version, groups = state.labels[state.index(k * size)]
        current = self.answers.seen(run)
        seen = max(current[0] if current is not None else -1, self._seen_forgotten.get(run, -1))
        # The store holds the block: the block cache keeps it only if something else put it.
        values = self.block(state, k, keep=False)
        self.answers.put(run, values, k, groups, schedule, version, seen)

    # -- last step seen ------------------------------------------------------------------------

    def _queue_seen(self, run_id: str) -> None:
        """Queue a run whose trainer asked about a new step for the next flush."""
        with self._seen_lock:
            self._noted.append(run_id)

    def _evicted(self, run_id: str, seen: int, noted: bool) -> None:
        """Keep the step seen of a run dropped from the answers until the next flush."""
        if noted:
            with self._seen_lock:
                self._seen_forgotten[run_id] = max(self._seen_forgotten.get(run_id, -1), seen)

    def seen_due(self) -> bool:
        """True when a flush of the steps seen is due: the caller then runs
        :meth:`flush_seen`, and no other is due until it has."""
        if time.monotonic() < self._seen_due:
            return False
        self._seen_due = math.inf
        return True

    def flush_seen(self) -> None:
        """Write the steps seen since the last flush. The next is due after
        ``seen_flush_seconds``, or later if this one took long: writing a statistic for
        thousands of runs never takes more than 1/SEEN_FLUSH_SHARE of the process's time."""
        began = time.monotonic()
        with self._seen_lock:
            noted, self._noted = self._noted, []
            pending = self._seen_forgotten
            self._seen_forgotten = {}
        for run in noted:
            step = self.answers.unnote(run)
            if step is not None:
                pending[run] = max(pending.get(run, -1), step)
        try:
            if pending:
                with self.database.write() as conn:
                    storage.record_seen_many(conn, pending)
        except Exception as exc:  # a lost update of a statistic must not fail anything
            if database_down(exc):
                log.warning("last steps seen not recorded: %s", str(exc).splitlines()[0])
            else:
                log.exception("could not record the last steps seen")
        finally:
            ended = time.monotonic()
            wait = max(self.settings.seen_flush_seconds, (ended - began) * SEEN_FLUSH_SHARE)
            self._seen_due = ended + wait

    def known_seen(self, run_id: str, stored: int | None) -> int | None:
        """The last step seen of a run: the stored one, or this process's if higher."""
        held = self.answers.seen(run_id)
        mine = self._seen_forgotten.get(run_id, -1)
        if held is not None:
            mine = max(mine, held[0])
        if mine < 0:
            return stored
        return mine if stored is None else max(stored, mine)

    def ready(self) -> None:
        """Raise 503 unless the database answers."""
        try:
            self.database.ping()
        except Exception as exc:
            raise ServiceUnavailableError(
                f"the database is unreachable: {type(exc).__name__}"
            ) from exc

    def close(self) -> None:
        self.flush_seen()
        self.database.dispose()


def segments_of(blocks: Iterable[int], timeline: Timeline) -> list[TimelineSegment]:
    """The distinct segments governing ``blocks`` of ``timeline``, in order."""
    seen: dict[int, TimelineSegment] = {}
    for k in blocks:
        segment = timeline.governing(k * timeline.block)
        seen.setdefault(segment.from_step, segment)
    return [seen[s] for s in sorted(seen)]
