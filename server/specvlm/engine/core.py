"""One worker thread owns the models and decodes requests in arrival order.

Requests come in through a bounded queue; each gets an asyncio queue of events back
(text deltas, then a finish or an error). Up to `max_running` requests are decoded at once,
one decoding step each in turn, so a long answer does not hold back a short one; each keeps
its own KV caches. A request is cancelled (client gone, timeout, shutdown) between two steps.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import AsyncIterator, Iterator, Sequence

import torch

from ..decoding import DecodingParams, GenerationStats, TokenLogprob, generate
from ..models.loading import ModelPair
from ..models.prefix_cache import PrefixCache
from .metrics import Metrics
from .text import TextAssembler

log = logging.getLogger("specvlm.engine")


class QueueFullError(RuntimeError):
    pass


class EngineStoppedError(RuntimeError):
    pass


class RequestTimeoutError(RuntimeError):
    pass


@dataclass(frozen=True)
class Delta:
    text: str
    token_ids: list[int]
    logprobs: list[TokenLogprob] | None = None  # one per token, when the request asked for them


@dataclass(frozen=True)
class Finished:
    finish_reason: str  # "stop" (EOS or stop string) or "length"
    stats: GenerationStats
    queue_s: float
    ttft_s: float


@dataclass(frozen=True)
class Failed:
    error: Exception


@dataclass(eq=False)  # a job is itself, not its field values (tensors do not compare to a bool)
class _Job:
    inputs: object
    params: DecodingParams
    stop: Sequence[str]
    prefix_key: str | None
    deadline: float
    loop: asyncio.AbstractEventLoop
    events: asyncio.Queue
    enqueued: float = field(default_factory=time.perf_counter)
    cancelled: threading.Event = field(default_factory=threading.Event)

    def send(self, event) -> None:
        try:
            self.loop.call_soon_threadsafe(self.events.put_nowait, event)
        except RuntimeError:  # the request's event loop is gone
            self.cancelled.set()


class Engine:
    def __init__(self, pair: ModelPair, metrics: Metrics | None = None, max_queue: int = 64,
                 request_timeout: float = 600.0, max_running: int = 1, prefix_cache: PrefixCache | None = None):
        if max_queue < 1 or max_running < 1:
            raise ValueError("max_queue and max_running must be at least 1")
        self.pair = pair
        self.metrics = metrics or Metrics()
        self.request_timeout = request_timeout
        self.max_running = max_running
        self.prefix_cache = prefix_cache  # touched by the worker thread only
        self._queue: queue.Queue[_Job | None] = queue.Queue(maxsize=max_queue)
        self._thread = threading.Thread(target=self._work, name="specvlm-worker", daemon=True)
        self._stopping = threading.Event()

    # --- lifecycle ---------------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive() and not self._stopping.is_set()

    def shutdown(self, timeout: float = 30.0) -> None:
        """Refuse new work, cancel what is queued and running, stop the worker."""
        self._stopping.set()
        while True:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                break
            if job is not None:
                self.metrics.waiting.dec()
                job.send(Failed(EngineStoppedError("server is shutting down")))
        try:
            self._queue.put_nowait(None)  # wake the worker
        except queue.Full:
            pass
        if self._thread.is_alive():
            self._thread.join(timeout)

    # --- requests ------------------------------------------------------------------------
    async def submit(self, inputs, params: DecodingParams, stop: Sequence[str] = (),
                     prefix_key: str | None = None) -> "Stream":
        """`prefix_key`: the prompt's video-prefix digest (models.prefix_cache), for reuse."""
        if not self.alive:
            raise EngineStoppedError("the decoding worker is not running")
        job = _Job(inputs, params, tuple(stop), prefix_key, time.perf_counter() + self.request_timeout,
                   asyncio.get_running_loop(), asyncio.Queue())
        try:
            self._queue.put_nowait(job)
        except queue.Full:
            raise QueueFullError(f"{self._queue.maxsize} requests are already waiting") from None
        self.metrics.waiting.inc()
        return Stream(job)

    # --- worker ----------------------------------------------------------------------------
    def _work(self) -> None:
        running: list[tuple[_Job, Iterator[None]]] = []
        while not self._stopping.is_set():
            self._admit(running)
            for entry in list(running):
                job, steps = entry
                try:
                    next(steps)
                    continue
                except StopIteration:
                    pass
                except Exception as exc:  # the worker must survive any one request
                    log.exception("request failed")
                    exc.__traceback__ = None  # its frames hold the request's KV caches
                    if isinstance(exc, torch.OutOfMemoryError) and torch.cuda.is_available():
                        torch.cuda.empty_cache()
                    job.send(Failed(exc))
                running.remove(entry)
                self.metrics.running.dec()
        for job, steps in running:
            job.send(Failed(EngineStoppedError("server is shutting down")))
            steps.close()
            self.metrics.running.dec()

    def _admit(self, running: list) -> None:
        """Take waiting requests while there is room; an idle worker blocks until one comes."""
        while len(running) < self.max_running:
            try:
                job = self._queue.get(block=not running)
            except queue.Empty:
                return
            if job is None:  # shutdown's wake-up call
                return
            self.metrics.waiting.dec()
            if job.cancelled.is_set():
                continue
            self.metrics.running.inc()
            running.append((job, self._steps(job)))

    def _steps(self, job: _Job) -> Iterator[None]:
        """Decode one request, pausing after every step (the worker interleaves requests)."""
        started = time.perf_counter()
        queue_s = started - job.enqueued
        stats = GenerationStats(job.params.reported_method)
        text = TextAssembler(self.pair.tokenizer, job.stop)
        steps = generate(self.pair, job.inputs, job.params, stats, self.prefix_cache, job.prefix_key)
        ttft_s = 0.0
        last = started
        finish_reason = None
        try:
            for chunk in steps:
                now = time.perf_counter()
                if not ttft_s:
                    ttft_s = now - job.enqueued
                    self.metrics.ttft.observe(ttft_s)
                else:
                    for _ in chunk.token_ids:
                        self.metrics.inter_token.observe((now - last) / len(chunk.token_ids))
                last = now
                delta = text.add(chunk.token_ids)
                job.send(Delta(delta, list(chunk.token_ids), chunk.logprobs))
                finish_reason = "stop" if text.stopped else chunk.finish_reason
                if finish_reason:
                    break
                if job.cancelled.is_set():
                    log.info("request cancelled after %d tokens", stats.completion_tokens)
                    return
                if now > job.deadline:
                    job.send(Failed(RequestTimeoutError("request timed out")))
                    return
                yield
        finally:
            steps.close()
            self._count(stats)
        job.send(Delta(text.flush(), []))
        job.send(Finished(finish_reason, stats, queue_s, ttft_s))

    def _count(self, stats: GenerationStats) -> None:
        m = self.metrics
        m.prompt_tokens.inc(stats.prompt_tokens)
        m.cached_prompt_tokens.inc(stats.cached_prompt_tokens)
        if self.prefix_cache is not None:
            m.prefix_cache_bytes.set(self.prefix_cache.nbytes)
        m.generation_tokens.inc(stats.completion_tokens)
        m.num_drafts.inc(stats.num_drafts)
        m.num_draft_tokens.inc(stats.num_draft_tokens)
        m.num_accepted_tokens.inc(stats.num_accepted_tokens)


class Stream:
    """Async iterator over one request's events; `cancel()` (or leaving early) stops decoding."""

    def __init__(self, job: _Job):
        self._job = job
        self.done = False

    def cancel(self) -> None:
        self._job.cancelled.set()

    async def next_event(self, timeout: float | None = None):
        """The next event, or None if `timeout` passes first."""
        try:
            event = await asyncio.wait_for(self._job.events.get(), timeout)
        except asyncio.TimeoutError:
            return None
        self.done = isinstance(event, (Finished, Failed))
        return event

    async def __aiter__(self) -> AsyncIterator:
        while not self.done:
            yield await self.next_event()


def warm_up(pair: ModelPair) -> None:
    """Touch every kernel once so the first request is not slow (and fails early if broken)."""
    tokenizer = pair.tokenizer
    inputs = tokenizer(["hello"], return_tensors="pt")
    params = DecodingParams(method="naive" if pair.draft is not None else "ar", max_new_tokens=2)
    with torch.inference_mode():
        for _ in generate(pair, inputs, params):
            pass
