"""The LRU map behind the process's caches: bounded by count and, when weighed, by weight."""

from __future__ import annotations

from lrcast_server.cache import LRU


def test_lru_evicts_the_least_recently_used_beyond_its_size() -> None:
    cache: LRU[str, int] = LRU(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1
    cache.put("c", 3)
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (1, None, 3)


def test_weighed_lru_keeps_its_total_weight_under_the_bound() -> None:
    cache: LRU[str, bytes] = LRU(100, weigh=len, max_weight=10)
    for key in "abcd":
        cache.put(key, b"xxxx")
    assert len(cache) == 2
    assert cache.weight == 8
    assert cache.get("a") is None
    cache.put("d", b"yy")  # replacing an entry replaces its weight
    assert cache.weight == 6
    cache.pop("d")
    assert cache.weight == 4


def test_without_refresh_a_read_does_not_count_but_a_put_does() -> None:
    cache: LRU[str, int] = LRU(2, refresh=False)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # not a use: "a" is still the first evicted
    cache.put("c", 3)
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (None, 2, 3)
    cache.put("b", 4)  # put again: now the newest
    cache.put("d", 5)
    assert (cache.get("b"), cache.get("c"), cache.get("d")) == (4, None, 5)


def test_on_evict_sees_the_entries_dropped_for_the_bounds_only() -> None:
    dropped: list[tuple[str, bytes]] = []
    cache: LRU[str, bytes] = LRU(
        3, weigh=len, max_weight=6, on_evict=lambda k, v: dropped.append((k, v))
    )
    cache.put("a", b"xx")
    cache.put("b", b"yy")
    cache.put("a", b"zz")  # replaced: not evicted
    cache.pop("b")  # popped: not evicted
    cache.put("c", b"cccc")
    cache.put("d", b"dd")  # weight 8 > 6: the oldest goes
    assert dropped == [("a", b"zz")]
    cache.put("e", b"")
    cache.put("f", b"")  # four entries > 3
    assert dropped == [("a", b"zz"), ("c", b"cccc")]
