"""Bad input gets a 4xx in OpenAI's envelope, and the server keeps serving."""

import base64

import pytest

from specvlm.media.synthetic import encode_video, synthetic_frames

from .conftest import video_message


def _video(url: str, question: str = "what?") -> list[dict]:
    return [{"role": "user", "content": [{"type": "video_url", "video_url": {"url": url}},
                                          {"type": "text", "text": question}]}]


def _b64(data: bytes, mime: str = "video/mp4") -> str:
    return f"data:{mime};base64," + base64.b64encode(data).decode()


_MP4 = encode_video(synthetic_frames(0, 16), container="mp4")

BAD_REQUESTS = {
    "invalid_json": (b"{not json", 400),
    "empty_messages": ({"messages": []}, 400),
    "no_messages": ({"max_tokens": 3}, 400),
    "n_2": ({"messages": [{"role": "user", "content": "hi"}], "n": 2}, 400),
    "bad_base64": ({"messages": _video("data:video/mp4;base64,@@@not-base64@@@")}, 400),
    "not_a_video": ({"messages": _video(_b64(b"hello, I am plain text" * 50))}, 400),
    "truncated_to_nothing": ({"messages": _video(_b64(_MP4[:200]))}, 400),
    "refused_file_url": ({"messages": _video("file:///etc/passwd")}, 403),
    "unreachable_url": ({"messages": _video("http://127.0.0.1:9/video.mp4")}, 400),
    "unsupported_scheme": ({"messages": _video("ftp://example.com/v.mp4")}, 400),
    "wrong_types": ({"messages": [{"role": "user", "content": "hi"}], "max_tokens": "lots"}, 400),
    "negative_max_tokens": ({"messages": [{"role": "user", "content": "hi"}], "max_tokens": -1}, 400),
    "unknown_part_type": ({"messages": [{"role": "user", "content": [{"type": "audio_url", "audio_url": {}}]}]}, 400),
    "unknown_role": ({"messages": [{"role": "robot", "content": "hi"}]}, 400),
    "absurd_num_frames": ({"messages": video_message("what?"), "media_io_kwargs": {"video": {"num_frames": 100000}}},
                          400),
    "zero_num_frames": ({"messages": video_message("what?"), "media_io_kwargs": {"video": {"num_frames": 0}}}, 400),
    "bad_spec_method": ({"messages": [{"role": "user", "content": "hi"}], "spec_decode": {"method": "turbo"}}, 400),
    "bad_drop_rate": ({"messages": [{"role": "user", "content": "hi"}], "spec_decode": {"drop_rate": 1.5}}, 400),
    "unknown_processor_kwarg": ({"messages": video_message("what?"), "mm_processor_kwargs": {"crop": 3}}, 400),
    "prompt_too_long": ({"messages": [{"role": "user", "content": "the dog " * 3000}]}, 400),
    "max_tokens_past_context": ({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 100000}, 400),
    "too_many_stops": ({"messages": [{"role": "user", "content": "hi"}], "stop": ["a", "b", "c", "d", "e"]}, 400),
    "unknown_model": ({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}, 404),
    "top_logprobs_without_logprobs": ({"messages": [{"role": "user", "content": "hi"}], "top_logprobs": 2}, 400),
    "too_many_top_logprobs": ({"messages": [{"role": "user", "content": "hi"}], "logprobs": True,
                               "top_logprobs": 21}, 400),
    "bad_top_k": ({"messages": [{"role": "user", "content": "hi"}], "top_k": -5}, 400),
    "min_tokens_over_max_tokens": ({"messages": [{"role": "user", "content": "hi"}], "min_tokens": 9}, 400),
    "bad_stop_token_ids": ({"messages": [{"role": "user", "content": "hi"}], "stop_token_ids": [-1]}, 400),
    "bad_frequency_penalty": ({"messages": [{"role": "user", "content": "hi"}], "frequency_penalty": 3}, 400),
    "bad_repetition_penalty": ({"messages": [{"role": "user", "content": "hi"}], "repetition_penalty": 0}, 400),
}

# Fields that would change the output and are not implemented: refused, never ignored.
UNSUPPORTED = {
    "logit_bias": {"42": 10},
    "tools": [{"type": "function", "function": {"name": "f"}}], "response_format": {"type": "json_object"},
    "best_of": 3, "prompt_logprobs": 1, "echo": True,
}
NO_OP = {"logit_bias": {}, "tools": [],
         "response_format": {"type": "text"}, "best_of": 1,
         "prompt_logprobs": None, "echo": False}


@pytest.mark.parametrize("field", list(UNSUPPORTED))
def test_unsupported_parameters_are_refused_unless_they_change_nothing(client, field):
    message = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}
    r = client.post("/v1/chat/completions", json={**message, field: UNSUPPORTED[field]})
    assert r.status_code == 400
    assert r.json()["error"]["param"] == field and "not supported" in r.json()["error"]["message"]
    assert client.post("/v1/chat/completions", json={**message, field: NO_OP[field]}).status_code == 200


@pytest.mark.parametrize("name", list(BAD_REQUESTS))
def test_bad_input_is_a_4xx_envelope_and_server_survives(client, name):
    payload, status = BAD_REQUESTS[name]
    if isinstance(payload, bytes):
        r = client.post("/v1/chat/completions", content=payload, headers={"content-type": "application/json"})
    else:
        r = client.post("/v1/chat/completions", json={"max_tokens": 3, **payload})
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["message"] and isinstance(error["message"], str)
    assert client.get("/health").status_code == 200
    ok = client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "hi"}], "max_tokens": 2})
    assert ok.status_code == 200


def test_truncated_video_serves_the_frames_that_decode(client):
    # Matroska streams from the front (an mp4 cut short loses its index at the end instead)
    mkv = encode_video(synthetic_frames(2, 40), container="mkv")
    r = client.post("/v1/chat/completions", json={"messages": _video(_b64(mkv[: len(mkv) * 2 // 3], "video/x-matroska")),
                                                  "max_tokens": 3})
    assert r.status_code == 200, r.text


def test_allowed_file_url_is_served(client, settings, tmp_path):
    from pathlib import Path

    path = Path(settings.allowed_local_media_path) / "clip.mp4"
    path.write_bytes(_MP4)
    r = client.post("/v1/chat/completions", json={"messages": _video(path.as_uri()), "max_tokens": 3})
    assert r.status_code == 200, r.text


def test_unknown_route_is_an_envelope(client):
    r = client.get("/v1/nothing")
    assert r.status_code == 404 and "error" in r.json()


def test_api_key_is_required_when_set(tiny_pairs, tmp_path):
    from fastapi.testclient import TestClient

    from specvlm.api.app import create_app
    from specvlm.config import Settings

    from .conftest import wait_ready

    app = create_app(Settings(api_key="sekret", cache_dir=str(tmp_path)), pair=tiny_pairs["qwen2_5_vl"])
    with TestClient(app) as c:
        wait_ready(c)
        body = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}
        r = c.post("/v1/chat/completions", json=body)
        assert r.status_code == 401 and r.json()["error"]["type"] == "authentication_error"
        assert c.get("/v1/models").status_code == 401
        assert c.post("/v1/chat/completions", json=body, headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert c.post("/v1/chat/completions", json=body, headers={"Authorization": "Bearer sekret"}).status_code == 200
        assert c.get("/health").status_code == 200  # health stays open for probes


def test_health_is_503_until_models_load(tmp_path):
    from fastapi.testclient import TestClient

    from specvlm.api.app import create_app
    from specvlm.config import Settings

    app = create_app(Settings(target=str(tmp_path / "missing"), cache_dir=str(tmp_path)))
    with TestClient(app) as c:
        import time

        deadline = time.time() + 30
        while "failed" not in c.get("/health").json()["status"] and time.time() < deadline:
            time.sleep(0.05)
        r = c.get("/health")
        assert r.status_code == 503 and "failed" in r.json()["status"]
        r = c.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "hi"}]})
        assert r.status_code == 503 and r.json()["error"]["code"] == "unavailable"


def test_oversized_body_is_refused_unread(tiny_pairs, tmp_path):
    from fastapi.testclient import TestClient

    from specvlm.api.app import create_app
    from specvlm.config import Settings

    from .conftest import wait_ready

    app = create_app(Settings(cache_dir=str(tmp_path), max_video_bytes=1000), pair=tiny_pairs["qwen2_5_vl"])
    with TestClient(app) as c:
        wait_ready(c)
        huge = {"messages": [{"role": "user", "content": "x" * (3 << 20)}]}
        r = c.post("/v1/chat/completions", json=huge)
        assert r.status_code == 413 and r.json()["error"]["code"] == "request_too_large"
        assert c.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "hi"}],
                                                    "max_tokens": 2}).status_code == 200


def test_pixel_limits_are_refused_for_llava(tiny_pairs, tmp_path):
    from fastapi.testclient import TestClient

    from specvlm.api.app import create_app
    from specvlm.config import Settings

    from .conftest import wait_ready

    app = create_app(Settings(cache_dir=str(tmp_path)), pair=tiny_pairs["llava_onevision"])
    with TestClient(app) as c:
        wait_ready(c)
        body = {"messages": video_message("what?"), "max_tokens": 2}
        assert c.post("/v1/chat/completions", json=body).status_code == 200
        r = c.post("/v1/chat/completions", json={**body, "mm_processor_kwargs": {"max_pixels": 5000}})
        assert r.status_code == 400 and "pixel count" in r.json()["error"]["message"]


def test_target_without_draft_serves_target_only(tiny_pairs, tmp_path):
    from fastapi.testclient import TestClient

    from specvlm.api.app import create_app
    from specvlm.config import Settings
    from specvlm.models.loading import ModelPair

    from .conftest import wait_ready

    pair = tiny_pairs["qwen2_5_vl"]
    app = create_app(Settings(cache_dir=str(tmp_path)), pair=ModelPair(pair.target, None, pair.processor))
    with TestClient(app) as c:
        wait_ready(c)
        body = {"messages": video_message("what?"), "max_tokens": 3}
        r = c.post("/v1/chat/completions", json=body)
        assert r.status_code == 200 and r.json()["metrics"]["speculative_decoding"]["method"] == "off"
        r = c.post("/v1/chat/completions", json={**body, "spec_decode": {"method": "specvlm"}})
        assert r.status_code == 400 and r.json()["error"]["code"] == "no_draft_model"


def test_device_out_of_memory_is_a_503_and_the_server_keeps_serving(client, monkeypatch):
    import torch

    target = client.app.state.service.pair.target

    def exhausted(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    monkeypatch.setattr(target, "forward", exhausted)
    r = client.post("/v1/chat/completions", json={"messages": video_message("what?"), "max_tokens": 3})
    assert r.status_code == 503
    assert r.json()["error"]["code"] == "out_of_memory" and "fewer frames" in r.json()["error"]["message"]
    monkeypatch.undo()
    assert client.post("/v1/chat/completions", json={"messages": video_message("what?"), "max_tokens": 3}
                       ).status_code == 200
