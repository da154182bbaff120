"""A real `specvlm serve` process (tiny default pair), driven by the official openai SDK."""

import concurrent.futures
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import openai
import pytest

from .conftest import video_message


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    port = _free_port()
    cache = tmp_path_factory.mktemp("live-cache")
    log = open(cache / "server.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "specvlm.cli", "serve", "--port", str(port), "--cache-dir", str(cache),
         "--keepalive-interval", "0.2"],
        stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "SPECVLM_API_KEY": "live-key"},
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 180
    while True:
        try:
            if httpx.get(base + "/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.time() > deadline:
            proc.kill()
            pytest.fail("server did not start:\n" + (cache / "server.log").read_text()[-3000:])
        time.sleep(0.2)
    yield base, proc
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    log.close()


@pytest.fixture(scope="module")
def sdk(server):
    return openai.OpenAI(base_url=server[0] + "/v1", api_key="live-key")


def _ask(sdk, seed: int, stream: bool, **extra):
    return sdk.chat.completions.create(
        model="specvlm-tiny-qwen2_5_vl", messages=video_message("what happens in the video?", seed), max_tokens=24,
        stream=stream, extra_body={"return_token_ids": True, **extra},
        **({"stream_options": {"include_usage": True}} if stream else {}))


def _stream_text(stream) -> tuple[str, str, dict]:
    text, finish, usage = "", None, None
    for chunk in stream:
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
            finish = chunk.choices[0].finish_reason or finish
        if chunk.usage:
            usage = chunk.usage
    return text, finish, usage


def test_sdk_non_streaming_and_streaming_agree(sdk):
    whole = _ask(sdk, 0, stream=False, spec_decode={"method": "specvlm", "drop_rate": 0.5},
                 media_io_kwargs={"video": {"num_frames": 8}})
    assert whole.choices[0].message.content
    extra = whole.model_extra
    assert extra["metrics"]["speculative_decoding"]["method"] == "specvlm"
    assert whole.choices[0].model_extra["token_ids"]
    text, finish, usage = _stream_text(_ask(sdk, 0, stream=True, spec_decode={"drop_rate": 0.5},
                                            media_io_kwargs={"video": {"num_frames": 8}}))
    assert text == whole.choices[0].message.content
    assert finish == whole.choices[0].finish_reason
    assert usage.completion_tokens == whole.usage.completion_tokens


def test_sdk_parses_sampled_speculation_with_logprobs(sdk):
    whole = sdk.chat.completions.create(
        model="specvlm-tiny-qwen2_5_vl", messages=video_message("what happens in the video?", 1), max_tokens=12,
        temperature=0.8, top_p=0.95, seed=5, logprobs=True, top_logprobs=2)
    content = whole.choices[0].logprobs.content
    assert len(content) == whole.usage.completion_tokens
    assert all(len(t.top_logprobs) == 2 and t.logprob <= 0 for t in content)
    assert whole.model_extra["metrics"]["speculative_decoding"]["method"] == "specvlm"


def test_sdk_sees_errors_as_exceptions(sdk, server):
    with pytest.raises(openai.BadRequestError) as err:
        sdk.chat.completions.create(model="specvlm-tiny-qwen2_5_vl", messages=[], max_tokens=2)
    assert err.value.status_code == 400
    bad_key = openai.OpenAI(base_url=server[0] + "/v1", api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad_key.models.list()
    assert [m.id for m in sdk.models.list()] == ["specvlm-tiny-qwen2_5_vl"]


def test_parallel_streams_match_solo_runs(sdk):
    solo = {seed: _ask(sdk, seed, stream=False).choices[0].message.content for seed in (1, 2, 3)}
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        together = dict(zip(solo, pool.map(lambda s: _stream_text(_ask(sdk, s, stream=True))[0], solo)))
    assert together == solo


def _metric(base: str, name: str) -> float:
    text = httpx.get(base + "/metrics").text
    return float(next(l for l in text.splitlines() if l.startswith(name + " ")).split()[-1])


def test_client_disconnect_frees_the_worker(server, sdk):
    base, _ = server
    generated_before = _metric(base, "specvlm:generation_tokens_total")
    body = {"messages": video_message("tell me a very long story", 5), "max_tokens": 3500, "stream": True,
            "ignore_eos": True}
    with httpx.stream("POST", base + "/v1/chat/completions", json=body,
                      headers={"Authorization": "Bearer live-key"}, timeout=30) as r:
        lines = r.iter_lines()  # kept referenced: dropping it would close the connection
        for line in lines:
            if line.startswith("data: ") and '"content"' in line and '"role"' not in line:
                break  # decoding has begun
        assert _metric(base, "specvlm:num_requests_running") == 1
    deadline = time.time() + 10
    while _metric(base, "specvlm:num_requests_running") != 0:
        assert time.time() < deadline, "the worker kept decoding for a gone client"
        time.sleep(0.05)
    assert _metric(base, "specvlm:generation_tokens_total") - generated_before < 3500
    started = time.time()
    assert _ask(sdk, 0, stream=False).choices[0].message.content
    assert time.time() - started < 10


def test_our_client_and_chat_cli_against_the_live_server(server, sdk, tmp_path, capsys):
    from specvlm.media.synthetic import encode_video, synthetic_frames
    from specvlm_client import Client
    from specvlm_client.cli import main as chat

    video = tmp_path / "clip.mp4"
    video.write_bytes(encode_video(synthetic_frames(7, 16)))
    expected = sdk.chat.completions.create(
        model="specvlm-tiny-qwen2_5_vl", max_tokens=16,
        messages=[{"role": "user", "content": [
            {"type": "video_url", "video_url": {"url": "data:video/mp4;base64," +
                                                __import__("base64").b64encode(video.read_bytes()).decode()}},
            {"type": "text", "text": "what happens?"}]}]).choices[0].message.content
    with Client(server[0], "live-key") as client:
        from specvlm_client import text_part, video_part

        reply = client.chat.completions.create(None, [{"role": "user", "content": [
            video_part(video), text_part("what happens?")]}], max_tokens=16)
    assert reply.choices[0].message.content == expected
    assert chat(["--base-url", server[0], "--api-key", "live-key", "--max-tokens", "16",
                 str(video), "what happens?"]) == 0
    out = capsys.readouterr()
    assert out.out.strip() == expected.strip()
    assert "mean acceptance length" in out.err


def test_sigterm_shuts_down_gracefully(server):
    _, proc = server
    proc.send_signal(signal.SIGTERM)
    # uvicorn shuts down gracefully, then re-raises the signal so the exit status tells why
    assert proc.wait(timeout=40) in (0, -signal.SIGTERM)
    log = (Path(proc.args[proc.args.index("--cache-dir") + 1]) / "server.log").read_text()
    assert "Application shutdown complete" in log
