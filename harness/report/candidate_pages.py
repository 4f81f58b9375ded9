"""The candidate pages: one per candidate, most of a large site's work (10,000 pages of a
10,000-candidate run), so they render in forked worker processes while the parent renders
the rest. When the site is being written, each worker writes its pages into the staging
folder itself: sending 150 MB of pages back to be written one by one would be a serial
second and a half after the parallel part."""

from __future__ import annotations

import gc
import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing import get_context
from multiprocessing.pool import AsyncResult
from pathlib import Path

from jinja2 import Template

from harness.measure.lifeline import die_with_parent
from harness.report.data import candidate_href
from harness.report.history import Series
from harness.report.pages import Context, candidate_page
from harness.store.results import CandidateRecord

PARALLEL_PAGES = 500  # from this many candidates on, their pages render in worker processes
PAGE_CHUNK = 250


@dataclass(frozen=True)
class CandidatePages:
    """What the candidate pages need; forked workers inherit it rather than unpickle it."""

    ctx: Context
    template: Template
    records: list[CandidateRecord]
    series: dict[str, Series]
    models: dict[int, tuple[str, Path]]

    def render(self, start: int, stop: int) -> dict[str, str]:
        return {
            candidate_href(r): self.template.render(
                candidate_page(
                    self.ctx,
                    r,
                    self.series.get(r.key),
                    self.models.get(r.id) if r.id is not None else None,
                )
            )
            for r in self.records[start:stop]
        }

    def produce(self, start: int, stop: int, folder: Path | None) -> dict[str, str]:
        """Pages start..stop: returned, or written under `folder` (then none are returned)."""
        pages = self.render(start, stop)
        if folder is None:
            return pages
        made: set[Path] = set()
        for rel, page in pages.items():
            target = folder / rel
            if target.parent not in made:
                target.parent.mkdir(parents=True, exist_ok=True)
                made.add(target.parent)
            target.write_bytes(page.encode())
        return {}


@contextmanager
def rendering(
    pages: CandidatePages, folder: Path | None, workers: int | None
) -> Iterator[Iterator[dict[str, str]]]:
    """Start the candidate pages, and give back what yields them once the caller's own
    work is done: rendered in forked workers for a large run on Linux (fork is unsafe on
    macOS and missing on Windows), else here, when the caller asks for them."""
    count = len(pages.records)
    if workers is None:
        workers = min(8, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)
    with _frozen_gc():
        if workers < 2 or count < PARALLEL_PAGES or not sys.platform.startswith("linux"):
            yield iter([pages.produce(0, count, folder)] if count else [])
            return
        with get_context("fork").Pool(workers, _start_worker, (pages, os.getpid())) as pool:
            chunks = [(i, min(i + PAGE_CHUNK, count), folder) for i in range(0, count, PAGE_CHUNK)]
            yield _results(pool.starmap_async(_produce, chunks))


def _results(pending: AsyncResult[list[dict[str, str]]]) -> Iterator[dict[str, str]]:
    yield from pending.get()


@contextmanager
def _frozen_gc() -> Iterator[None]:
    """Keep the garbage collector off the loaded rows while rendering: millions of objects
    that live to the end would make every full collection walk them (a quarter of the
    time of a 10,000-candidate render), and forked workers keep sharing their pages."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


_worker_pages: CandidatePages | None = None  # set once in each worker by its initializer


def _start_worker(pages: CandidatePages, parent: int) -> None:
    global _worker_pages
    die_with_parent(parent)  # a forked worker would otherwise wait forever on a killed parent
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C: the parent stops the pool
    _worker_pages = pages


def _produce(start: int, stop: int, folder: Path | None) -> dict[str, str]:
    assert _worker_pages is not None, "a page worker runs only after _start_worker"
    return _worker_pages.produce(start, stop, folder)
