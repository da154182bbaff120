"""specvlm-chat against the stand-in server on a real port."""

from __future__ import annotations

import base64
import io
import re

import pytest

from specvlm_client import Usage
from specvlm_client.cli import Progress, main, stats_line

from .conftest import ANSWER, API_KEY

VIDEO = b"\x00\x00\x00\x18ftypisom tiny test clip"


@pytest.fixture
def video(tmp_path) -> str:
    path = tmp_path / "clip.mp4"
    path.write_bytes(VIDEO)
    return str(path)


def chat(live, *args: str) -> int:
    return main(["--base-url", live[0], "--api-key", API_KEY, *args])


def test_streams_answer_then_stats(live, video, capsys):
    assert chat(live, video, "What does the cat do?", "--max-tokens", "32") == 0
    out, err = capsys.readouterr()
    assert out == ANSWER + "\n"
    uploading, waiting, stats = err.splitlines()
    assert (uploading, waiting) == ("uploading...", "waiting for the first token...")
    assert re.fullmatch(r"5 tokens in \d+\.\d\d s, 40\.0 tokens/s, mean acceptance length 2\.50, TTFT 0\.03 s", stats)
    [body] = live[1].state.received
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True} and body["max_tokens"] == 32
    video_part, text_part = body["messages"][0]["content"]
    assert video_part["video_url"]["url"] == "data:video/mp4;base64," + base64.b64encode(VIDEO).decode()
    assert text_part == {"type": "text", "text": "What does the cat do?"}


def test_no_stream(live, video, capsys):
    assert chat(live, video, "What happens?", "--no-stream") == 0
    out, err = capsys.readouterr()
    assert out == ANSWER + "\n"
    assert "waiting for the answer..." in err and "mean acceptance length 2.50" in err
    assert live[1].state.received[0]["stream"] is False


def test_error_mid_stream_keeps_partial_answer(live, video, capsys):
    assert chat(live, video, "What happens?", "--model", "fail-mid-stream") == 1
    out, err = capsys.readouterr()
    assert out == "A cat\n"
    assert err.endswith("specvlm-chat: [internal_error] generation failed: worker died\n")
    assert "tokens/s" not in err


def test_wrong_key(live, video, capsys):
    assert main(["--base-url", live[0], "--api-key", "wrong", video, "hi"]) == 1
    assert "[401 invalid_api_key]" in capsys.readouterr().err


def test_missing_video(live, tmp_path, capsys):
    assert chat(live, str(tmp_path / "nope.mp4"), "hi") == 2
    assert "nope.mp4" in capsys.readouterr().err and live[1].state.received == []


def test_api_key_from_environment(live, video, capsys, monkeypatch):
    monkeypatch.setenv("SPECVLM_API_KEY", API_KEY)
    monkeypatch.setenv("SPECVLM_BASE_URL", live[0])
    assert main([video, "hi"]) == 0
    assert capsys.readouterr().out == ANSWER + "\n"


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_on_a_terminal_redraws_one_line():
    terminal = FakeTerminal()
    progress = Progress(terminal, "the first token")
    progress.upload(1_500_000, 3_000_000)
    progress.upload(3_000_000, 3_000_000)
    ticker = progress._ticker
    progress.clear()
    assert ticker is not None and not ticker.is_alive()
    screen = terminal.getvalue()
    assert "\n" not in screen
    assert screen.startswith("\r\x1b[Kuploading 1.5 MB / 3.0 MB\r\x1b[Kuploading 3.0 MB / 3.0 MB"
                             "\r\x1b[Kwaiting for the first token 0.0 s")
    assert screen.endswith("\r\x1b[K")
    progress.upload(3_000_000, 3_000_000)  # late reports after clear() draw nothing
    assert terminal.getvalue() == screen


def test_stats_line_marks_what_the_server_left_out():
    assert stats_line(Usage.from_dict({"completion_tokens": 3}), None, 1.5) == \
        "3 tokens in 1.50 s, ? tokens/s, mean acceptance length ?, TTFT ? s"
