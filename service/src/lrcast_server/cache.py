"""A small thread-safe LRU map: the process's caches of compiled documents, computed blocks
and run states.

Only immutable things are cached (a schedule version, a block computed from one segment, a run
state valid up to its horizon), so a cached entry is never stale; the bounds only limit memory:
a number of entries and, when ``weigh`` is given, a total weight (bytes, say).

With ``refresh=False`` a read does not count as a use: the first entry put (or put again) is
the first evicted. That spares the hot path a write to cold memory per read, for caches whose
live entries are put again as they change (a run state at each new horizon) or cheap to
recompute (a block).

``on_evict`` is called (holding the cache's lock) with each entry dropped to stay within the
bounds; not for entries replaced or popped.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class LRU(Generic[K, V]):
    def __init__(
        self,
        size: int,
        *,
        weigh: Callable[[V], int] | None = None,
        max_weight: int | None = None,
        refresh: bool = True,
        on_evict: Callable[[K, V], None] | None = None,
    ) -> None:
        self._size = size
        self._on_evict = on_evict
        self._refresh = refresh
        self._items: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()
        self._weigh = weigh if max_weight is not None else None
        self._max_weight = max_weight or 0
        self._weights: dict[K, int] = {}
        self.weight = 0
        """The total weight of the entries held (0 without ``weigh``)."""

    def get(self, key: K) -> V | None:
        # Lock-free: each OrderedDict call is atomic under the GIL; a key evicted between the
        # two calls only misses its refresh. (No contextlib.suppress: on the hot path it would
        # cost more than the lookup.)
        value = self._items.get(key)
        if value is not None and self._refresh:
            try:
                self._items.move_to_end(key)
            except KeyError:
                return value
        return value

    def put(self, key: K, value: V) -> None:
        with self._lock:
            self._drop(key)
            self._items[key] = value
            if self._weigh is not None:
                weight = self._weigh(value)
                self._weights[key] = weight
                self.weight += weight
                while self.weight > self._max_weight and len(self._items) > 1:
                    self._evict()
            while len(self._items) > self._size:
                self._evict()

    def _evict(self) -> None:
        key = next(iter(self._items))
        value = self._items[key]
        self._drop(key)
        if self._on_evict is not None:
            self._on_evict(key, value)

    def _drop(self, key: K) -> None:
        if self._items.pop(key, None) is not None and self._weigh is not None:
            self.weight -= self._weights.pop(key, 0)

    def pop(self, key: K) -> None:
        with self._lock:
            self._drop(key)

    def __len__(self) -> int:
        return len(self._items)
