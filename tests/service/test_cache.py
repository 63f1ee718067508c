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
