"""The worker thread: queueing, cancellation, timeouts, shutdown."""

import asyncio
import time

import pytest

from specvlm.decoding import DecodingParams
from specvlm.engine.core import (Delta, Engine, EngineStoppedError, Failed, Finished, QueueFullError,
                                 RequestTimeoutError)
from specvlm.engine.metrics import Metrics

from .helpers import inputs_for, run, video_prompt

LONG = DecodingParams(method="specvlm", max_new_tokens=4000)


@pytest.fixture
def qwen(tiny_pairs):
    return tiny_pairs["qwen2_5_vl"]


async def _collect(stream):
    return [event async for event in stream]


def _wait_until(predicate, timeout=20.0):
    deadline = time.time() + timeout
    while not predicate():
        assert time.time() < deadline
        time.sleep(0.01)


def test_events_carry_text_tokens_and_finish(qwen):
    inputs = inputs_for(qwen, video_prompt("what is the dog doing?"))
    expected, _, _ = run(qwen, inputs, method="specvlm", max_new_tokens=20)

    async def main():
        engine = Engine(qwen, Metrics())
        engine.start()
        try:
            events = await _collect(await engine.submit(inputs, DecodingParams(max_new_tokens=20)))
        finally:
            engine.shutdown()
        return events

    events = asyncio.run(main())
    assert isinstance(events[-1], Finished)
    tokens = [t for e in events if isinstance(e, Delta) for t in e.token_ids]
    assert tokens == expected
    text = "".join(e.text for e in events if isinstance(e, Delta))
    assert text == qwen.tokenizer.decode(expected, skip_special_tokens=True)
    assert events[-1].stats.completion_tokens == len(expected)


def test_queue_full_cancel_frees_the_worker_and_shutdown_fails_waiters(qwen):
    inputs = inputs_for(qwen, video_prompt("tell me everything"))
    metrics = Metrics()

    async def main():
        engine = Engine(qwen, metrics, max_queue=1)
        engine.start()
        running = await engine.submit(inputs, LONG)
        await running.next_event()  # the worker has taken it
        waiting = await engine.submit(inputs, DecodingParams(max_new_tokens=3))
        with pytest.raises(QueueFullError):
            await engine.submit(inputs, LONG)
        running.cancel()
        started = time.perf_counter()
        events = await _collect(waiting)  # runs as soon as the cancelled one stops
        freed_after = time.perf_counter() - started
        assert isinstance(events[-1], Finished)
        assert freed_after < 10

        blocker = await engine.submit(inputs, LONG)
        await blocker.next_event()
        queued = await engine.submit(inputs, LONG)
        await asyncio.to_thread(engine.shutdown)
        last = [e async for e in queued][-1]
        assert isinstance(last, Failed) and isinstance(last.error, EngineStoppedError)
        with pytest.raises(EngineStoppedError):
            await engine.submit(inputs, LONG)

    asyncio.run(main())
    assert metrics.running._value.get() == 0 and metrics.waiting._value.get() == 0


def test_request_timeout(qwen):
    inputs = inputs_for(qwen, video_prompt("go on"))

    async def main():
        engine = Engine(qwen, Metrics(), request_timeout=0.0)
        engine.start()
        try:
            return await _collect(await engine.submit(inputs, LONG))
        finally:
            engine.shutdown()

    last = asyncio.run(main())[-1]
    assert isinstance(last, Failed) and isinstance(last.error, RequestTimeoutError)


def test_a_failing_request_does_not_kill_the_worker(qwen):
    good = inputs_for(qwen, video_prompt("hi"))
    bad = dict(good)
    bad["input_ids"] = good["input_ids"][:, :5]  # placeholders no longer match the video features

    async def main():
        engine = Engine(qwen, Metrics())
        engine.start()
        try:
            failed = await _collect(await engine.submit(bad, DecodingParams(max_new_tokens=3)))
            ok = await _collect(await engine.submit(good, DecodingParams(max_new_tokens=3)))
        finally:
            engine.shutdown()
        return failed, ok

    failed, ok = asyncio.run(main())
    assert isinstance(failed[-1], Failed)
    assert isinstance(ok[-1], Finished)


@pytest.mark.parametrize("max_running", [1, 2])
def test_interleaving_lets_a_short_request_overtake(qwen, max_running):
    """With room for two, a short request finishes while a long one is still decoding;
    with room for one, it waits. Outputs are the same either way."""
    long_inputs = inputs_for(qwen, video_prompt("tell me everything", seeds=(1,)))
    short_inputs = inputs_for(qwen, video_prompt("one word", seeds=(2,)))
    long_params = DecodingParams(max_new_tokens=150, ignore_eos=True)
    short_params = DecodingParams(max_new_tokens=4, ignore_eos=True)
    solo_long, _, _ = run(qwen, long_inputs, max_new_tokens=150, ignore_eos=True)
    solo_short, _, _ = run(qwen, short_inputs, max_new_tokens=4, ignore_eos=True)

    async def main():
        engine = Engine(qwen, Metrics(), max_running=max_running)
        engine.start()
        order = []

        async def consume(name, stream):
            events = await _collect(stream)
            order.append(name)
            return [t for e in events if isinstance(e, Delta) for t in e.token_ids]

        try:
            long_stream = await engine.submit(long_inputs, long_params)
            first = await long_stream.next_event()  # the long request is decoding
            short_stream = await engine.submit(short_inputs, short_params)
            long_rest, short_tokens = await asyncio.gather(consume("long", long_stream),
                                                           consume("short", short_stream))
        finally:
            engine.shutdown()
        return order, first.token_ids + long_rest, short_tokens

    order, long_tokens, short_tokens = asyncio.run(main())
    assert order == (["short", "long"] if max_running == 2 else ["long", "short"])
    assert short_tokens == solo_short
    assert long_tokens == solo_long


def test_interleaved_follow_ups_share_a_cached_prefix(qwen):
    """Two follow-ups on one cached video decode at once, each on its own copy of the prefix."""
    from specvlm.models.prefix_cache import PrefixCache, prefix_key

    from .test_prefix_cache import conversation

    first = inputs_for(qwen, conversation("what is the dog doing?"))
    follow_ups = [inputs_for(qwen, conversation("what is the dog doing?", q)) for q in ("and then?", "why?")]
    params = DecodingParams(max_new_tokens=30, ignore_eos=True)
    solo = [run(qwen, inputs, max_new_tokens=30, ignore_eos=True)[0] for inputs in follow_ups]

    async def main():
        engine = Engine(qwen, Metrics(), max_running=2, prefix_cache=PrefixCache(1 << 30))
        engine.start()
        key = lambda inputs: prefix_key(inputs, qwen.target.video_token_id)  # noqa: E731
        try:
            await _collect(await engine.submit(first, DecodingParams(max_new_tokens=2), prefix_key=key(first)))
            streams = [await engine.submit(inputs, params, prefix_key=key(inputs)) for inputs in follow_ups]
            results = await asyncio.gather(*(_collect(s) for s in streams))
        finally:
            engine.shutdown()
        return results

    for events, expected in zip(asyncio.run(main()), solo):
        assert [t for e in events if isinstance(e, Delta) for t in e.token_ids] == expected
        assert events[-1].stats.cached_prompt_tokens > 0
