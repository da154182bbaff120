"""An in-process app on the tiny Qwen pair, and helpers to build requests."""

from __future__ import annotations

import base64
import functools
import time

import pytest
from fastapi.testclient import TestClient

from specvlm.api.app import create_app
from specvlm.config import Settings
from specvlm.media.synthetic import encode_video, synthetic_frames


@functools.lru_cache(maxsize=None)
def video_url(seed: int = 0, num_frames: int = 16) -> str:
    data = encode_video(synthetic_frames(seed, num_frames), container="mp4")
    return "data:video/mp4;base64," + base64.b64encode(data).decode()


def video_message(question: str, seed: int = 0) -> list[dict]:
    return [{"role": "user", "content": [{"type": "video_url", "video_url": {"url": video_url(seed)}},
                                          {"type": "text", "text": question}]}]


def wait_ready(client: TestClient, timeout: float = 60.0) -> None:
    deadline = time.time() + timeout
    while client.get("/health").status_code != 200:
        assert time.time() < deadline, "server never became healthy"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def settings(tmp_path_factory) -> Settings:
    return Settings(cache_dir=str(tmp_path_factory.mktemp("cache")), keepalive_interval=0.05,
                    allowed_local_media_path=str(tmp_path_factory.mktemp("media")))


@pytest.fixture(scope="module")
def client(tiny_pairs, settings):
    app = create_app(settings, pair=tiny_pairs["qwen2_5_vl"])
    with TestClient(app) as c:
        wait_ready(c)
        yield c


def sse_events(response) -> list:
    """Parsed `data:` payloads of an SSE response ("[DONE]" kept as a string); comments dropped."""
    import json

    events = []
    for block in response.text.split("\n\n"):
        for line in block.splitlines():
            if line.startswith("data: "):
                payload = line[len("data: "):]
                events.append(payload if payload == "[DONE]" else json.loads(payload))
    return events
