"""Processes filling one annotation cache at once compute each item once (per-item claims, ``sharing``).

The helper is tested with real processes (fork) and with threads: ``flock``
locks belong to an open file description, and every claim opens its own, so
two threads exclude each other just as two processes do. Then the stage
itself: two callers of ``annotate_images`` (or one of it and one of
``read_numbers``, as ``vlm-llm-full`` and ``ocr-numbers-only`` run side by
side) on one cache read, measure and describe each image once.
"""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from asebench.annotation import AnnotationCache, AnnotationStats, TextRequest
from asebench.annotation.sharing import fill_claimed
from asebench.api.data import Sample
from asebench.datasets.ase_synth import generator as gen
from asebench.datasets.ase_synth import rendering
from asebench.domains.ase.annotation import annotate_images, read_numbers
from asebench.domains.ase.ocr_reading import OcrReading
from asebench.domains.ase.stand_ins.dot_cloud_describer import DotCloudDescriber
from asebench.store.atomic import atomic_write_text, try_file_lock

pytest.importorskip("fcntl")  # without flock the claims do nothing (only duplicate work is lost)

WAIT = 60.0  # seconds a test waits for another thread before it fails instead of hanging


# --------------------------------------------------------------------------- the lock


def test_a_claim_is_refused_while_held_and_free_again_after(tmp_path: Path) -> None:
    path = tmp_path / "claims" / "item.lock"
    with try_file_lock(path) as first:
        assert first
        with try_file_lock(path) as second:  # another open file description: excluded like another process
            assert not second
    with try_file_lock(path) as third, try_file_lock(path.with_name("other.lock")) as other:
        assert third and other
    with try_file_lock(path, wait=True) as waited:
        assert waited


# --------------------------------------------------------------------------- the helper


def _slow_fill(root: Path, log: Path) -> Callable[[Sequence[int]], list[str]]:
    """A fake engine over a file cache: a cached item is read, a missing one is computed (slowly) and logged."""

    def fill(batch: Sequence[int]) -> list[str]:
        results = []
        for item in batch:
            entry = root / "cache" / f"{item}.txt"
            if entry.exists():
                results.append(entry.read_text())
                continue
            with open(log, "a") as handle:  # one short append per line: lines of two processes never mix
                handle.write(f"{item}\n")
            time.sleep(0.01)
            atomic_write_text(entry, f"value {item}")
            results.append(f"value {item}")
        return results

    return fill


def _fill_in_a_process(root: str, worker: int, batch_size: int, start: Any) -> list[str]:
    base = Path(root)
    start.wait()
    fill = _slow_fill(base, base / f"log-{worker}")
    return fill_claimed(range(24), lambda item: base / "claims" / f"{item}.lock", fill, batch_size)


@pytest.mark.parametrize("batch_size", [1, 5])
def test_two_processes_compute_every_item_exactly_once(tmp_path: Path, batch_size: int) -> None:
    context = multiprocessing.get_context("fork")
    with context.Manager() as manager, context.Pool(2) as pool:
        start = manager.Barrier(2)
        outcomes = pool.starmap(_fill_in_a_process, [(str(tmp_path), w, batch_size, start) for w in range(2)])
    expected = [f"value {item}" for item in range(24)]
    assert outcomes == [expected, expected]
    logs = [tmp_path / f"log-{w}" for w in range(2)]
    computed = [int(item) for log in logs if log.exists() for item in log.read_text().split()]
    assert sorted(computed) == list(range(24))


def test_a_lone_caller_fills_in_order_and_in_full_batches(tmp_path: Path) -> None:
    batches: list[list[int]] = []

    def fill(batch: Sequence[int]) -> list[int]:
        batches.append(list(batch))
        return [item * 10 for item in batch]

    def claim(item: int) -> Path | None:
        return None if item == 4 else tmp_path / f"{item % 3}.lock"  # repeated claim files share one claim

    assert fill_claimed(range(7), claim, fill, batch_size=3) == [0, 10, 20, 30, 40, 50, 60]
    assert batches == [[0, 1, 2], [3, 4, 5], [6]]


def test_held_items_are_skipped_then_filled_once_their_claim_is_free(tmp_path: Path) -> None:
    batches: list[list[int]] = []
    holder = ExitStack()
    assert holder.enter_context(try_file_lock(tmp_path / "1.lock"))  # "another process" holds item 1

    def claim(item: int) -> Path:
        if item == 1 and any(3 in batch for batch in batches):  # the last pass came back for it
            holder.close()
        return tmp_path / f"{item}.lock"

    def fill(batch: Sequence[int]) -> list[int]:
        batches.append(list(batch))
        return list(batch)

    assert fill_claimed(range(4), claim, fill, batch_size=2) == [0, 1, 2, 3]
    assert batches == [[0, 2], [3], [1]]


def test_an_item_whose_holder_fails_is_computed_by_the_waiter(tmp_path: Path) -> None:
    holding, waiting = threading.Event(), threading.Event()
    failures: list[BaseException] = []

    def failing(batch: Sequence[int]) -> list[str]:
        holding.set()
        assert waiting.wait(WAIT)
        raise RuntimeError("engine crashed")

    def holder() -> None:
        try:
            fill_claimed([0], lambda item: tmp_path / f"{item}.lock", failing)
        except RuntimeError as exc:
            failures.append(exc)

    thread = threading.Thread(target=holder)
    thread.start()
    assert holding.wait(WAIT)
    tried: list[int] = []

    def claim(item: int) -> Path:
        tried.append(item)
        if tried.count(0) == 2:  # the last pass is about to wait for item 0
            waiting.set()
        return tmp_path / f"{item}.lock"

    log = tmp_path / "log"
    results = fill_claimed([0, 1], claim, _slow_fill(tmp_path, log))
    thread.join(WAIT)
    assert results == ["value 0", "value 1"]
    assert [str(e) for e in failures] == ["engine crashed"]
    assert log.read_text().split() == ["1", "0"]


def test_an_item_whose_holder_dies_is_computed_by_the_waiter(tmp_path: Path) -> None:
    lock = tmp_path / "0.lock"
    script = (
        "import sys\nfrom asebench.store.atomic import try_file_lock\n"
        f"with try_file_lock({str(lock)!r}) as held:\n    print(held, flush=True)\n    sys.stdin.read()\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "True"
        tried: list[int] = []

        def claim(item: int) -> Path:
            tried.append(item)
            if tried.count(0) == 2:  # the last pass is about to wait for item 0: kill its holder
                holder.kill()
                holder.wait(WAIT)
            return tmp_path / f"{item}.lock"

        log = tmp_path / "log"
        assert fill_claimed([0, 1], claim, _slow_fill(tmp_path, log)) == ["value 0", "value 1"]
        assert log.read_text().split() == ["1", "0"]
    finally:
        if holder.poll() is None:
            holder.kill()
        holder.wait(WAIT)


# --------------------------------------------------------------------------- the stage


class SlowCountingOcr:
    """Reads Sample.metadata like ``ocr: metadata``, cached like a real engine; counts reads (thread-safe)."""

    name = "counting-metadata"
    version = "1"

    def __init__(self) -> None:
        self.calls = 0
        self._lock = threading.Lock()

    def availability(self) -> str | None:
        return None

    def read(self, image: Sample) -> OcrReading:
        with self._lock:
            self.calls += 1
        time.sleep(0.005)
        return OcrReading.from_flat(image.metadata, self.name, self.version)


class CountingDescriber(DotCloudDescriber):
    calls = 0
    lock = threading.Lock()

    def generate(self, request: TextRequest) -> str:
        with self.lock:
            type(self).calls += 1
        return super().generate(request)


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> list[Sample]:
    folder = tmp_path_factory.mktemp("ase")
    assets = rendering.build_assets(rendering.MIN_WIDTH, rendering.MIN_HEIGHT)
    made = []
    for label in ("normal", "type1", "type2", "type4"):
        for number in (1, 2, 3):
            rendered = gen.generate_sample(label, number, points_scale=0.3, assets=assets)
            path = folder / f"{label}_{number}.png"
            path.write_bytes(gen.encode_png(rendered.image))
            made.append(Sample(id=path.stem, label=label, image=path, metadata=rendered.stats.as_metadata()))
    return made


def _together(*calls: Callable[[], Any]) -> list[Any]:
    """Run the calls in threads started at the same moment; their results (an exception is raised here)."""
    start = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            start.wait(WAIT)
            results[index] = calls[index]()
        except BaseException as exc:  # noqa: BLE001  re-raised below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    if errors:
        raise errors[0]
    return results


def test_two_annotating_callers_on_one_cache_compute_each_image_once(tmp_path: Path, samples: list[Sample]) -> None:
    ocr, pool = SlowCountingOcr(), 2
    stats = [AnnotationStats(), AnnotationStats()]
    CountingDescriber.calls = 0

    def annotate(index: int) -> Any:
        cache = AnnotationCache(tmp_path / "shared")
        return annotate_images(samples, ocr, CountingDescriber(), cache, pool, stats=stats[index])

    first, second = _together(lambda: annotate(0), lambda: annotate(1))
    n = len(samples)
    assert first == second
    assert (ocr.calls, CountingDescriber.calls) == (n, n * pool)
    for component, items in (("ocr:counting-metadata", n), ("measure", n), ("vlm:dot-cloud-describer", n * pool)):
        usage = [s.usage(component) for s in stats]
        assert (sum(u.calls for u in usage), sum(u.cache_hits for u in usage)) == (items, items), component
    alone = annotate_images(samples, SlowCountingOcr(), DotCloudDescriber(), AnnotationCache(tmp_path / "own"), pool)
    assert first == alone


def test_reading_numbers_beside_annotating_reads_each_image_once(tmp_path: Path, samples: list[Sample]) -> None:
    ocr = SlowCountingOcr()
    cache = AnnotationCache(tmp_path / "shared")
    annotations, readings = _together(
        lambda: annotate_images(samples, ocr, DotCloudDescriber(), cache),
        lambda: read_numbers(samples, ocr, AnnotationCache(tmp_path / "shared")),
    )
    assert ocr.calls == len(samples)
    assert readings == [annotations[s.id].ocr for s in samples]


def test_a_lone_caller_reports_progress_and_counts_as_before(tmp_path: Path, samples: list[Sample]) -> None:
    events: list[tuple[str, int, int]] = []
    stats = AnnotationStats()
    ocr = SlowCountingOcr()
    cache = AnnotationCache(tmp_path / "c")
    annotate_images(samples[:3], ocr, DotCloudDescriber(), cache, 2, lambda *e: events.append(e), stats=stats)
    assert events == [
        *(("annotations: OCR and measurements", done, 3) for done in (1, 2, 3)),
        *(("annotations: vlm texts (dot-cloud-describer)", done, 6) for done in (0, 6)),
    ]
    assert {name: (u["calls"], u["cache_hits"]) for name, u in stats.as_dict().items()} == {
        "ocr:counting-metadata": (3, 0),
        "measure": (3, 0),
        "vlm:dot-cloud-describer": (6, 0),
    }
    events.clear()
    assert read_numbers(samples[:3], ocr, cache, lambda *e: events.append(e)) == [
        OcrReading.from_flat(s.metadata, ocr.name, ocr.version) for s in samples[:3]
    ]
    assert events == [("OCR", done, 3) for done in (1, 2, 3)]
    assert ocr.calls == 3
    assert len(list((tmp_path / "c" / "claims").rglob("*.lock"))) == 3 + 3 + 6  # one per cache entry
