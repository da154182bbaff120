"""`specvlm bench-serve` against an in-test app that streams in API.md's SSE format."""

import argparse
import asyncio
import json
import socket
import threading
import time

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

from specvlm.bench import serve_load

TOKENS_PER_CHUNK = 2  # as under speculation: one SSE chunk per verification step


def fake_server() -> FastAPI:
    """Streams max_tokens tokens; request 4 (1-based) is refused with 429, request 6 fails mid-stream."""
    app = FastAPI()
    app.state.count = 0
    app.state.bodies = []

    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        body = await request.json()
        app.state.count += 1
        app.state.bodies.append(body)
        number = app.state.count
        if number == 4:
            return JSONResponse({"error": {"message": "server busy", "type": "rate_limit_error", "param": None,
                                           "code": "queue_full"}}, status_code=429)

        async def events():
            def chunk(delta, finish=None):
                return {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "fake",
                        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

            yield f"data: {json.dumps(chunk({'role': 'assistant', 'content': ''}))}\n\n"
            yield ": keep-alive\n\n"
            steps = body["max_tokens"] // TOKENS_PER_CHUNK
            for step in range(steps):
                await asyncio.sleep(0.002)
                if number == 6 and step == 1:
                    yield 'data: {"error": {"message": "generation failed", "type": "server_error"}}\n\n'
                    yield "data: [DONE]\n\n"
                    return
                yield f"data: {json.dumps(chunk({'content': 'ab'}))}\n\n"
            yield f"data: {json.dumps(chunk({}, 'length'))}\n\n"
            spec = {"method": "specvlm", "num_drafts": steps, "num_draft_tokens": 25 * steps,
                    "num_accepted_tokens": steps * (TOKENS_PER_CHUNK - 1)}
            yield ("data: " + json.dumps({"id": "c", "object": "chat.completion.chunk", "choices": [],
                                          "usage": {"prompt_tokens": 50, "completion_tokens": body["max_tokens"],
                                                    "total_tokens": 50 + body["max_tokens"]},
                                          "metrics": {"speculative_decoding": spec}}) + "\n\n")
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    return app


@pytest.fixture
def served():
    """The fake app on a real port (uvicorn in a thread), so chunks arrive as they are sent."""
    app = fake_server()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not server.started:
        assert time.time() < deadline, "test server did not start"
        time.sleep(0.02)
    yield app, f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def load_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    serve_load.add_arguments(parser)
    return parser.parse_args(["--frames", "4", "--frame-size", "32x48", "--num-videos", "2", *argv])


def test_load_test_reports_percentiles_and_failures(served, tmp_path, capsys):
    app, base_url = served
    args = load_args("--base-url", base_url, "--concurrency", "2", "--requests", "8", "--warmup", "0",
                     "--max-tokens", "8", "--method", "specvlm", "--drop-rate", "0.9", "--temperature", "0.7",
                     "--out", str(tmp_path))
    assert serve_load.run(args) == 0

    body = app.state.bodies[0]
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["spec_decode"] == {"method": "specvlm", "drop_rate": 0.9} and body["ignore_eos"] is True
    assert body["temperature"] == 0.7
    video = body["messages"][0]["content"][0]
    assert video["type"] == "video_url" and video["video_url"]["url"].startswith("data:video/mp4;base64,")
    assert body["media_io_kwargs"] == {"video": {"num_frames": 4}}

    result = json.loads((tmp_path / "serve_results.json").read_text())
    summary = result["summary"]
    assert (summary["requests"], summary["succeeded"], summary["failed"]) == (8, 6, 2)
    assert summary["errors"] == {"HTTP 429: server busy": 1, "generation failed": 1}
    assert summary["output_tokens"] == 6 * 8
    assert summary["mean_acceptance_length"] == pytest.approx(TOKENS_PER_CHUNK)
    for key in ("ttft_s", "itl_s", "tpot_s", "latency_s"):
        stats = summary[key]
        assert 0 <= stats["p50"] <= stats["p90"] <= stats["p99"] <= stats["max"]
    assert summary["ttft_s"]["max"] <= summary["latency_s"]["max"]
    ok = [r for r in result["requests"] if r["ok"]]
    assert all(len(r["chunk_times_s"]) == 8 // TOKENS_PER_CHUNK for r in ok)
    assert "TTFT" in capsys.readouterr().out


def test_any_asgi_app_can_be_driven_in_process():
    args = load_args("--requests", "3", "--warmup", "1", "--max-tokens", "4", "--no-ignore-eos")
    app = fake_server()
    assert serve_load.run(args, transport=httpx.ASGITransport(app=app)) == 0
    assert app.state.count == 4  # the warmup request too
    assert all("ignore_eos" not in body and "spec_decode" not in body for body in app.state.bodies)


def test_percentiles():
    stats = serve_load.percentiles([float(v) for v in range(1, 101)])
    assert stats["mean"] == pytest.approx(50.5) and stats["p50"] == pytest.approx(50.5)
    assert stats["p99"] == pytest.approx(99.01) and stats["max"] == 100.0
    assert serve_load.percentiles([]) is None
