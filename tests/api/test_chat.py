"""The chat completions route, in process, against the tiny Qwen pair."""

import pytest

from specvlm.decoding import DecodingParams, generate
from specvlm.inputs import build_inputs

from .conftest import sse_events, video_message


def _request(**extra) -> dict:
    return {"model": "specvlm-tiny-qwen2_5_vl", "messages": video_message("what is the dog doing?"),
            "max_tokens": 24, **extra}


def test_models_and_health(client):
    assert client.get("/health").json() == {"status": "ok"}
    models = client.get("/v1/models").json()
    assert models["object"] == "list"
    entry = models["data"][0]
    assert entry["id"] == "specvlm-tiny-qwen2_5_vl" and entry["object"] == "model"
    assert entry["max_model_len"] == 4096


def test_completion_shape_usage_and_metrics(client):
    r = client.post("/v1/chat/completions", json=_request(return_token_ids=True))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["object"] == "chat.completion" and body["id"].startswith("chatcmpl-")
    choice = body["choices"][0]
    assert choice["message"]["role"] == "assistant"
    assert choice["finish_reason"] in ("stop", "length")
    assert len(choice["token_ids"]) == body["usage"]["completion_tokens"]
    assert body["usage"]["total_tokens"] == body["usage"]["prompt_tokens"] + body["usage"]["completion_tokens"]
    spec = body["metrics"]["speculative_decoding"]
    assert spec["method"] == "specvlm" and spec["num_drafts"] > 0
    assert spec["video_tokens"] > 0 and spec["draft_video_tokens"] == int(spec["video_tokens"] * 0.1 + 1e-6)
    assert spec["mean_acceptance_length"] >= 1.0
    timing = body["metrics"]["timing"]
    assert set(timing) == {"queue_s", "video_decode_s", "prefill_s", "ttft_s", "decode_s", "decode_tokens_per_s"}
    assert timing["video_decode_s"] > 0 and timing["ttft_s"] >= timing["prefill_s"]


def test_served_tokens_are_the_targets_greedy_tokens(client, tiny_pairs):
    """Through HTTP (media decode included) the output is the target's own greedy output."""
    body = client.post("/v1/chat/completions", json=_request(return_token_ids=True)).json()
    served = body["choices"][0]["token_ids"]
    assert served == _hf_generate(client, _request())
    text = client.app.state.service.pair.tokenizer.decode(served, skip_special_tokens=True)
    assert body["choices"][0]["message"]["content"] == text


@pytest.mark.parametrize("method", ["specvlm", "naive", "off"])
def test_streamed_text_equals_non_streamed(client, method):
    request = _request(spec_decode={"method": method}, return_token_ids=True)
    whole = client.post("/v1/chat/completions", json=request).json()
    r = client.post("/v1/chat/completions", json={**request, "stream": True,
                                                   "stream_options": {"include_usage": True}})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = sse_events(r)
    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    ids = [t for c in chunks if c["choices"] for t in c["choices"][0].get("token_ids", [])]
    assert text == whole["choices"][0]["message"]["content"]
    assert ids == whole["choices"][0]["token_ids"]
    finals = [c for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]]
    assert len(finals) == 1 and finals[0]["choices"][0]["finish_reason"] == whole["choices"][0]["finish_reason"]
    usage = chunks[-1]
    assert usage["choices"] == [] and usage["usage"] == whole["usage"]
    assert usage["metrics"]["speculative_decoding"]["method"] == ("off" if method == "off" else method)


def test_stream_without_usage_has_no_usage_chunk(client):
    events = sse_events(client.post("/v1/chat/completions", json=_request(stream=True)))
    assert all(e == "[DONE]" or e["choices"] for e in events)


def test_stop_string_cuts_the_text(client):
    whole = client.post("/v1/chat/completions", json=_request(max_tokens=40)).json()
    text = whole["choices"][0]["message"]["content"]
    assert len(text) > 6
    stop = text[3:6]
    cut = client.post("/v1/chat/completions", json=_request(max_tokens=40, stop=[stop])).json()
    assert cut["choices"][0]["message"]["content"] == text[:text.index(stop)]
    assert cut["choices"][0]["finish_reason"] == "stop"
    streamed = sse_events(client.post("/v1/chat/completions", json=_request(max_tokens=40, stop=stop, stream=True)))
    assert "".join(e["choices"][0]["delta"].get("content", "") for e in streamed[:-1]) == text[:text.index(stop)]


def test_max_tokens_is_exact(client):
    body = client.post("/v1/chat/completions", json=_request(max_tokens=5, return_token_ids=True)).json()
    assert body["usage"]["completion_tokens"] <= 5
    if body["choices"][0]["finish_reason"] == "length":
        assert body["usage"]["completion_tokens"] == 5


def test_drop_rate_is_per_request(client):
    body = client.post("/v1/chat/completions", json=_request(spec_decode={"drop_rate": 0.5})).json()
    spec = body["metrics"]["speculative_decoding"]
    assert spec["draft_video_tokens"] == spec["video_tokens"] // 2


def test_keepalive_comments_while_waiting(client, monkeypatch):
    """A slow prefill shows up as `: keep-alive` lines before the first token."""
    import time as _time

    engine = client.app.state.service.engine
    original = engine._steps

    def slow_steps(job):
        _time.sleep(0.3)
        return original(job)

    monkeypatch.setattr(engine, "_steps", slow_steps)
    r = client.post("/v1/chat/completions", json=_request(stream=True, max_tokens=3))
    assert ": keep-alive" in r.text
    assert sse_events(r)[-1] == "[DONE]"


def test_metrics_endpoint(client):
    client.post("/v1/chat/completions", json=_request(max_tokens=8))
    text = client.get("/metrics").text
    for name in ("specvlm:spec_decode_num_drafts_total", "specvlm:spec_decode_num_draft_tokens_total",
                 "specvlm:spec_decode_num_accepted_tokens_total", "specvlm:num_requests_running",
                 "specvlm:num_requests_waiting", "specvlm:time_to_first_token_seconds_bucket",
                 "specvlm:inter_token_latency_seconds_bucket", "specvlm:video_decode_seconds_bucket",
                 'specvlm:requests_total{status="200"}'):
        assert name in text, name
    drafts = [l for l in text.splitlines() if l.startswith("specvlm:spec_decode_num_drafts_total")]
    assert float(drafts[0].split()[-1]) > 0


def test_mm_processor_kwargs_reach_the_processor(client):
    small = client.post("/v1/chat/completions", json=_request(
        max_tokens=2, mm_processor_kwargs={"min_pixels": 56 * 56, "max_pixels": 56 * 56})).json()
    default = client.post("/v1/chat/completions", json=_request(max_tokens=2)).json()
    tokens = lambda body: body["metrics"]["speculative_decoding"]["video_tokens"]  # noqa: E731
    assert 0 < tokens(small) < tokens(default)


def test_frame_sampling_and_timing_reach_the_model(client):
    """Fewer frames of the same clip: fewer video tokens, and Qwen2.5-VL sees them farther apart."""
    grids = {}
    for frames in (4, 8):
        prompt, inputs = _server_inputs(client, _request(media_io_kwargs={"video": {"num_frames": frames}}))
        assert len(prompt.videos[0].frames) == frames
        grids[frames] = (int(inputs["video_grid_thw"][0, 0]), float(inputs["second_per_grid_ts"][0]))
    # the 16-frame clip at 8 fps: 4 frames are 0.5 s apart, 8 frames 0.25 s (2 frames per temporal patch)
    assert grids[4] == (2, 1.0) and grids[8] == (4, 0.5)


def test_server_pixel_ceiling_applies_and_cannot_be_raised(tiny_pairs, tmp_path):
    from fastapi.testclient import TestClient

    from specvlm.api.app import create_app
    from specvlm.config import Settings

    from .conftest import wait_ready

    app = create_app(Settings(cache_dir=str(tmp_path), max_pixels=56 * 56), pair=tiny_pairs["qwen2_5_vl"])
    with TestClient(app) as c:
        wait_ready(c)
        body = c.post("/v1/chat/completions", json=_request(max_tokens=2)).json()
        assert "metrics" in body, body
        # 8 frames -> 4 temporal patches of at most 56x56 pixels -> 2x2 merged tokens each
        assert body["metrics"]["speculative_decoding"]["video_tokens"] <= 4 * 4
        r = c.post("/v1/chat/completions", json=_request(max_tokens=2, mm_processor_kwargs={"max_pixels": 10 ** 6}))
        assert r.status_code == 400


def test_sampling_requests_speculate_and_a_seed_reproduces_them(client):
    request = _request(temperature=0.8, top_p=0.95, seed=7, max_tokens=24, return_token_ids=True, ignore_eos=True)
    first = client.post("/v1/chat/completions", json=request).json()
    again = client.post("/v1/chat/completions", json=request).json()
    other = client.post("/v1/chat/completions", json={**request, "seed": 8}).json()
    spec = first["metrics"]["speculative_decoding"]
    assert spec["method"] == "specvlm" and spec["num_drafts"] > 0
    assert first["choices"][0]["token_ids"] == again["choices"][0]["token_ids"]
    assert first["choices"][0]["token_ids"] != other["choices"][0]["token_ids"]


def test_logprobs_are_the_targets_and_stream_like_the_json_reply(client):
    request = _request(logprobs=True, top_logprobs=3, return_token_ids=True, max_tokens=16)
    whole = client.post("/v1/chat/completions", json=request).json()
    choice = whole["choices"][0]
    content = choice["logprobs"]["content"]
    assert [c["token"] for c in content] == [client.app.state.service.pair.tokenizer.decode([t])
                                             for t in choice["token_ids"]]
    for entry in content:
        assert entry["logprob"] <= 0 and entry["bytes"] == list(entry["token"].encode())
        tops = entry["top_logprobs"]
        assert len(tops) == 3 and tops[0]["logprob"] >= tops[1]["logprob"] >= tops[2]["logprob"]
        assert tops[0]["token"] == entry["token"] and tops[0]["logprob"] == pytest.approx(entry["logprob"])  # greedy
    events = sse_events(client.post("/v1/chat/completions", json={**request, "stream": True}))
    streamed = [e for c in events[:-1] if c["choices"] and c["choices"][0]["logprobs"]
                for e in c["choices"][0]["logprobs"]["content"]]
    assert streamed == content


def test_no_logprobs_unless_asked(client):
    assert client.post("/v1/chat/completions", json=_request()).json()["choices"][0]["logprobs"] is None
    plain = client.post("/v1/chat/completions", json=_request(logprobs=True)).json()["choices"][0]["logprobs"]
    assert plain["content"] and all(e["top_logprobs"] == [] for e in plain["content"])


def _server_inputs(client, request: dict):
    """The prompt and processor inputs the server builds for `request` (media decode included)."""
    import asyncio

    from specvlm.api.prompt import build_prompt
    from specvlm.api.protocol import ChatCompletionRequest

    svc = client.app.state.service
    parsed = ChatCompletionRequest(**request)
    prompt = asyncio.run(build_prompt(parsed, parsed.video_sampling(svc.settings), svc.fetch_policy))
    return prompt, build_inputs(svc.pair.processor, prompt)


def _hf_generate(client, request: dict, **generate_kwargs) -> list[int]:
    """transformers' generate on the inputs the server builds for `request`."""
    import torch

    svc = client.app.state.service
    _, inputs = _server_inputs(client, request)
    with torch.inference_mode():
        out = svc.pair.target.model.generate(**inputs, do_sample=False, max_new_tokens=request["max_tokens"],
                                             **generate_kwargs)
    return out[0, inputs["input_ids"].shape[1]:].tolist()


def test_the_checkpoints_repetition_penalty_is_the_default_as_in_hf_generate(client, monkeypatch):
    """Qwen2.5-VL checkpoints ship repetition_penalty 1.05 in generation_config.json, and HF's
    generate(do_sample=False) applies it: so does the server, unless the request sets its own.
    A text prompt: its output does not depend on how a video happened to be encoded."""
    request = _request(messages=[{"role": "user", "content": "count the dogs, again and again"}],
                       return_token_ids=True, max_tokens=48)
    plain = _hf_generate(client, request)
    monkeypatch.setattr(client.app.state.service.pair.target.model.generation_config, "repetition_penalty", 2.0)
    penalized = _hf_generate(client, request)
    assert penalized != plain
    served = client.post("/v1/chat/completions", json=request).json()["choices"][0]["token_ids"]
    assert served == penalized
    overridden = client.post("/v1/chat/completions", json={**request, "repetition_penalty": 1.0}).json()
    assert overridden["choices"][0]["token_ids"] == plain
    frequency = client.post("/v1/chat/completions", json={**request, "repetition_penalty": 1.0,
                                                          "frequency_penalty": 1.0}).json()
    assert frequency["choices"][0]["token_ids"] != plain  # reaches the engine (HF checks: tests/engine)


def test_a_chats_next_turn_reuses_the_video_prefix(tiny_pairs, settings, client):
    """With --prefix-cache-gb, the follow-up question skips the video's prefill; the answer is
    what a server without the cache gives."""
    from dataclasses import replace

    from fastapi.testclient import TestClient

    from specvlm.api.app import create_app

    from .conftest import wait_ready

    first = video_message("what is the dog doing?")
    follow_up = first + [{"role": "assistant", "content": "it runs"}, {"role": "user", "content": "and then?"}]
    app = create_app(replace(settings, prefix_cache_gb=0.5), pair=tiny_pairs["qwen2_5_vl"])
    with TestClient(app) as cached:
        wait_ready(cached)
        one = cached.post("/v1/chat/completions", json=_request(messages=first, return_token_ids=True)).json()
        two = cached.post("/v1/chat/completions", json=_request(messages=follow_up, return_token_ids=True)).json()
        metrics = cached.get("/metrics").text
    assert one["usage"]["prompt_tokens_details"]["cached_tokens"] == 0
    reused = two["usage"]["prompt_tokens_details"]["cached_tokens"]
    assert 0 < reused < two["usage"]["prompt_tokens"]
    assert f"specvlm:prefix_cache_hit_tokens_total {float(reused)}" in metrics
    plain = client.post("/v1/chat/completions", json=_request(messages=follow_up, return_token_ids=True)).json()
    assert plain["usage"]["prompt_tokens_details"]["cached_tokens"] == 0
    assert two["choices"][0]["token_ids"] == plain["choices"][0]["token_ids"]


def test_stop_token_ids_end_the_reply(client):
    whole = client.post("/v1/chat/completions", json=_request(return_token_ids=True, max_tokens=30,
                                                              ignore_eos=True)).json()
    ids = whole["choices"][0]["token_ids"]
    stop_at = next(i for i in range(2, len(ids)) if ids[i] not in ids[:i])
    cut = client.post("/v1/chat/completions", json=_request(return_token_ids=True, max_tokens=30, ignore_eos=True,
                                                            stop_token_ids=[ids[stop_at]])).json()
    assert cut["choices"][0]["token_ids"] == ids[: stop_at + 1]
    assert cut["choices"][0]["finish_reason"] == "stop"


def test_min_tokens_keeps_the_reply_going(client):
    reply = client.post("/v1/chat/completions", json=_request(messages=video_message("one word"), max_tokens=40,
                                                              min_tokens=30)).json()
    assert reply["usage"]["completion_tokens"] >= 30
