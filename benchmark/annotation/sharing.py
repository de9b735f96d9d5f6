"""One-time work shared by processes that fill one cache at the same time: each item is computed once.

The process executor runs two cells at once, and both may need the same
annotations (``ocr-numbers-only`` and the paper's model both read every
image). The cache alone keeps that safe but not cheap: each process would
compute every missing item. :func:`fill_claimed` adds per-item claims: a
process takes an item's claim (an ``flock`` on its claim file,
:func:`~asebench.store.atomic.try_file_lock`) before computing it, and first
does the items whose claims are free, leaving those another process holds for
last; by then their holder has usually cached them, so waiting for the claim
and reading the cache is all that is left. The OS drops a dead holder's lock,
and the waiter then computes the item itself: there is nothing stale to
clean up, and no sleeping or polling.

``fill`` must look in the cache first (under the claim), so an item another
process computed is a cache hit. Which process computes an item never
changes it: every item is computed from its own inputs alone. A lone process
finds every claim free, so it computes the items in their order, in the same
batches, as it would without claims.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import TypeVar

from asebench.store.atomic import try_file_lock

T = TypeVar("T")
R = TypeVar("R")


def fill_claimed(
    items: Sequence[T],
    claim: Callable[[T], Path | None],
    fill: Callable[[Sequence[T]], Sequence[R]],
    batch_size: int = 1,
) -> list[R]:
    """``fill``'s result for every item, in item order, each item filled under its claim.

    ``claim(item)`` is the item's claim file (None: nothing to share, fill it
    unclaimed). ``fill`` gets up to ``batch_size`` consecutive free items at a
    time (items another process holds are skipped over, so a batch stays full)
    and returns one result per item. Items held elsewhere are then filled one
    by one, each once its claim is free. Items with one claim file in a batch
    share the claim (a process never waits for itself). An exception from
    ``fill`` releases the batch's claims and propagates.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    results: dict[int, R] = {}
    deferred: list[int] = []
    order = iter(range(len(items)))
    while True:
        with ExitStack() as claims:
            batch: list[int] = []
            held: set[Path] = set()
            for index in order:
                path = claim(items[index])
                if path is not None and path not in held:
                    if not claims.enter_context(try_file_lock(path)):
                        deferred.append(index)
                        continue
                    held.add(path)
                batch.append(index)
                if len(batch) == batch_size:
                    break
            if not batch:
                break
            _store(results, batch, fill([items[i] for i in batch]))
    for index in deferred:
        path = claim(items[index])
        with ExitStack() as claims:
            if path is not None:
                claims.enter_context(try_file_lock(path, wait=True))
            _store(results, [index], fill([items[index]]))
    return [results[i] for i in range(len(items))]


def _store(results: dict[int, R], batch: Sequence[int], filled: Sequence[R]) -> None:
    if len(filled) != len(batch):
        raise ValueError(f"fill returned {len(filled)} results for {len(batch)} items")
    results.update(zip(batch, filled, strict=True))
