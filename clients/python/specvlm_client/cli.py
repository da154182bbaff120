"""specvlm-chat: ask a question about a video and watch the answer arrive.

The answer goes to stdout; progress and the closing stats line go to stderr, so
`specvlm-chat clip.mp4 "what happens?" > answer.txt` keeps only the answer.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from typing import Any, TextIO

from .client import DEFAULT_BASE_URL, Client
from .content import text_part, video_part
from .errors import APIError
from .types import Metrics, Usage


class Progress:
    """One status line on stderr: upload progress, then a timer until the answer starts.

    On a terminal the line is redrawn in place; elsewhere (a log, a pipe) each phase is
    printed once, so no control characters end up in files.
    """

    def __init__(self, stream: TextIO, waiting_for: str):
        self._stream = stream
        self._waiting_for = waiting_for
        self._tty = stream.isatty()
        self._lock = threading.Lock()
        self._phase: str | None = None
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    def upload(self, sent: int, total: int) -> None:
        self._show("uploading", f"{_size(sent)} / {_size(total)}")
        if sent == total:
            self._start_waiting()

    def _start_waiting(self) -> None:
        if self._ticker is not None:  # a retried request uploads again: keep the first timer
            return
        started = time.monotonic()
        self._show(f"waiting for {self._waiting_for}", "0.0 s")
        if self._tty:
            def tick() -> None:
                while not self._stop.wait(0.1):
                    self._show(f"waiting for {self._waiting_for}", f"{time.monotonic() - started:.1f} s")
            self._ticker = threading.Thread(target=tick, daemon=True)
            self._ticker.start()

    def clear(self) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
        with self._lock:
            if self._tty and self._phase is not None:
                self._stream.write("\r\033[K")
                self._stream.flush()
            self._phase = None

    def _show(self, phase: str, detail: str) -> None:
        with self._lock:
            if self._stop.is_set():
                return
            if self._tty:
                self._stream.write(f"\r\033[K{phase} {detail}")
            elif phase != self._phase:
                self._stream.write(f"{phase}...\n")
            self._stream.flush()
            self._phase = phase


def _size(num_bytes: int) -> str:
    return f"{num_bytes / 1e6:.1f} MB" if num_bytes >= 100_000 else f"{num_bytes / 1e3:.1f} kB"


def stats_line(usage: Usage | None, metrics: Metrics | None, elapsed_s: float) -> str:
    """Tokens, decode speed, mean acceptance length and time to first token; `?` where the server said nothing."""
    def number(value: float | None, spec: str) -> str:
        return "?" if value is None else format(value, spec)

    timing = metrics.timing if metrics else None
    speculation = metrics.speculative_decoding if metrics else None
    tokens = number(usage.completion_tokens if usage else None, "d")
    rate = number(timing.decode_tokens_per_s if timing else None, ".1f")
    acceptance = number(speculation.mean_acceptance_length if speculation else None, ".2f")
    ttft = number(timing.ttft_s if timing else None, ".2f")
    return (f"{tokens} tokens in {elapsed_s:.2f} s, {rate} tokens/s, mean acceptance length {acceptance}"
            f", TTFT {ttft} s")


def _ask_streaming(client: Client, model: str | None, messages: list[dict[str, Any]], params: dict[str, Any],
                   progress: Progress) -> tuple[Usage | None, Metrics | None]:
    usage = metrics = None
    answering = False
    try:
        with client.chat.completions.create(model, messages, stream=True, upload_progress=progress.upload,
                                            stream_options={"include_usage": True}, **params) as stream:
            for chunk in stream:
                for choice in chunk.choices:
                    if choice.delta.content:
                        if not answering:
                            progress.clear()
                            answering = True
                        sys.stdout.write(choice.delta.content)
                        sys.stdout.flush()
                usage, metrics = chunk.usage or usage, chunk.metrics or metrics
    finally:  # end the answer's line, also when an error cuts it short
        progress.clear()
        if answering:
            sys.stdout.write("\n")
    return usage, metrics


def _ask_once(client: Client, model: str | None, messages: list[dict[str, Any]], params: dict[str, Any],
              progress: Progress) -> tuple[Usage | None, Metrics | None]:
    completion = client.chat.completions.create(model, messages, upload_progress=progress.upload, **params)
    progress.clear()
    answer = completion.choices[0].message.content if completion.choices else None
    print(answer or "")
    return completion.usage, completion.metrics


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="specvlm-chat", description="Ask a specvlm server about a video.")
    parser.add_argument("video", metavar="VIDEO", help="a video file, or an http(s)://, file:// or data: URL")
    parser.add_argument("question", metavar="QUESTION", help="what to ask about the video")
    parser.add_argument("--base-url", default=os.environ.get("SPECVLM_BASE_URL", DEFAULT_BASE_URL),
                        help=f"server address (default: $SPECVLM_BASE_URL, else {DEFAULT_BASE_URL})")
    parser.add_argument("--api-key", default=os.environ.get("SPECVLM_API_KEY"),
                        help="bearer token (default: $SPECVLM_API_KEY)")
    parser.add_argument("--model", help="model name (default: the one the server serves)")
    parser.add_argument("--max-tokens", type=int, help="most tokens to generate (default: the server's)")
    parser.add_argument("--no-stream", action="store_true", help="wait for the whole answer instead of streaming")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        messages = [{"role": "user", "content": [video_part(args.video), text_part(args.question)]}]
    except (OSError, ValueError) as exc:
        print(f"specvlm-chat: {exc}", file=sys.stderr)
        return 2
    params = {} if args.max_tokens is None else {"max_tokens": args.max_tokens}
    progress = Progress(sys.stderr, "the answer" if args.no_stream else "the first token")
    ask = _ask_once if args.no_stream else _ask_streaming
    started = time.monotonic()
    try:
        with Client(args.base_url, args.api_key) as client:
            usage, metrics = ask(client, args.model, messages, params, progress)
    except APIError as exc:
        progress.clear()
        print(f"specvlm-chat: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # the stream's `with` block has closed the connection: the server stops
        progress.clear()
        return 130
    print(stats_line(usage, metrics, time.monotonic() - started), file=sys.stderr)
    return 0
