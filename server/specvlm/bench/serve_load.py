"""`specvlm bench-serve`: an HTTP load test of a running server with video requests.

Sends --requests streamed chat completions (`stream: true`, `include_usage`), --concurrency at
a time, each with a video as a data: URL, and reports percentiles of time to first token (first
content chunk), inter-token latency (gap between content chunks; one chunk may carry several
tokens under speculation), time per output token after the first, and end-to-end latency, plus
request and token throughput and the server's mean acceptance length.

The core (`run_load`) takes any httpx.AsyncClient, so it drives a remote server or an in-process
ASGI app (httpx.ASGITransport) alike.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx
import numpy as np
from tqdm import tqdm

from ..media.synthetic import encode_video, synthetic_frames
from .report import environment

PERCENTILES = (50, 90, 99)
_MIME = {".mp4": "video/mp4", ".webm": "video/webm", ".mkv": "video/x-matroska", ".mov": "video/quicktime",
         ".avi": "video/x-msvideo"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--base-url", default="http://127.0.0.1:8000", help="server root (without /v1)")
    parser.add_argument("--api-key", help="sent as 'Authorization: Bearer KEY'")
    parser.add_argument("--model", help="model name to request (default: the server's own)")
    parser.add_argument("--concurrency", type=int, default=4, help="requests in flight at once")
    parser.add_argument("--requests", type=int, default=32, help="measured requests")
    parser.add_argument("--warmup", type=int, default=1, help="requests sent first and not measured")
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--ignore-eos", action=argparse.BooleanOptionalAction, default=True,
                        help="decode exactly --max-tokens tokens (vLLM's extension; default on)")
    parser.add_argument("--videos", nargs="+", metavar="FILE", help="video files (default: synthetic mp4s)")
    parser.add_argument("--num-videos", type=int, default=4, help="distinct synthetic videos, used in turn")
    parser.add_argument("--frames", type=int, default=8, help="frames per video (synthetic length and sampling)")
    parser.add_argument("--frame-size", default="360x640", metavar="HxW", help="synthetic frame size")
    parser.add_argument("--method", choices=("specvlm", "naive", "off"),
                        help="spec_decode.method of every request (default: the server's)")
    parser.add_argument("--drop-rate", type=float, help="spec_decode.drop_rate of every request")
    parser.add_argument("--temperature", type=float, default=0.0, help="> 0: sampled requests (speculative too)")
    parser.add_argument("--question", default="Describe what happens in the video.")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per request")
    parser.add_argument("--out", help="directory for serve_results.json")


# --- requests ----------------------------------------------------------------------------------
def video_urls(args) -> list[str]:
    if args.videos:
        files = [Path(p) for p in args.videos]
        return [f"data:{_MIME.get(f.suffix.lower(), 'video/mp4')};base64,"
                + base64.b64encode(f.read_bytes()).decode() for f in files]
    height, width = (int(v) for v in args.frame_size.lower().split("x"))
    return ["data:video/mp4;base64," + base64.b64encode(
        encode_video(synthetic_frames(seed, args.frames, height, width), container="mp4")).decode()
        for seed in range(args.num_videos)]


def request_body(args, video_url: str) -> dict:
    body = {
        "messages": [{"role": "user", "content": [{"type": "video_url", "video_url": {"url": video_url}},
                                                  {"type": "text", "text": args.question}]}],
        "max_tokens": args.max_tokens, "temperature": args.temperature, "stream": True,
        "stream_options": {"include_usage": True},
        "media_io_kwargs": {"video": {"num_frames": args.frames}},
    }
    if args.model:
        body["model"] = args.model
    if args.ignore_eos:
        body["ignore_eos"] = True
    spec = {k: v for k, v in (("method", args.method), ("drop_rate", args.drop_rate)) if v is not None}
    if spec:
        body["spec_decode"] = spec
    return body


# --- one streamed request ------------------------------------------------------------------------
@dataclass
class RequestResult:
    ok: bool
    latency_s: float
    ttft_s: float | None = None
    chunk_times_s: list[float] = field(default_factory=list)  # content chunks, since the request was sent
    completion_tokens: int | None = None  # from usage
    spec_metrics: dict | None = None  # metrics.speculative_decoding of the usage chunk
    error: str | None = None

    @property
    def output_tokens(self) -> int:
        return self.completion_tokens if self.completion_tokens is not None else len(self.chunk_times_s)


async def stream_chat(client: httpx.AsyncClient, body: dict, timeout: float) -> RequestResult:
    """POST one streamed chat completion and time its SSE events as they arrive."""
    start = time.perf_counter()
    chunk_times: list[float] = []
    usage_chunk: dict = {}
    error = None
    try:
        async with client.stream("POST", "/v1/chat/completions", json=body, timeout=timeout) as response:
            if response.status_code != 200:
                text = (await response.aread()).decode(errors="replace")
                return RequestResult(False, time.perf_counter() - start, error=f"HTTP {response.status_code}: "
                                     + _error_message(text))
            async for line in response.aiter_lines():
                if not line.startswith("data:"):
                    continue  # blank separators and `: keep-alive` comments
                payload = line[len("data:"):].strip()
                if payload == "[DONE]":
                    break
                event = json.loads(payload)
                if "error" in event:
                    error = event["error"].get("message", "error event")
                elif not event.get("choices"):
                    usage_chunk = event
                elif event["choices"][0].get("delta", {}).get("content"):
                    chunk_times.append(time.perf_counter() - start)
    except (httpx.HTTPError, json.JSONDecodeError) as exc:
        error = f"{type(exc).__name__}: {exc}"
    latency = time.perf_counter() - start
    if error is None and not chunk_times:
        error = "no content in the stream"
    usage = usage_chunk.get("usage") or {}
    return RequestResult(error is None, latency, chunk_times[0] if chunk_times else None, chunk_times,
                         usage.get("completion_tokens"),
                         (usage_chunk.get("metrics") or {}).get("speculative_decoding"), error)


def _error_message(text: str) -> str:
    try:
        return json.loads(text)["error"]["message"]
    except (ValueError, KeyError, TypeError):
        return text[:200]


# --- the load ----------------------------------------------------------------------------------
async def run_load(client: httpx.AsyncClient, bodies: list[dict], concurrency: int, timeout: float = 600.0,
                   progress: tqdm | None = None) -> tuple[list[RequestResult], float]:
    """Send `bodies` with at most `concurrency` in flight; returns results (in request order) and
    the wall time from the first send to the last answer."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for index in range(len(bodies)):
        queue.put_nowait(index)
    results: list[RequestResult | None] = [None] * len(bodies)

    async def worker():
        while not queue.empty():
            index = queue.get_nowait()
            results[index] = await stream_chat(client, bodies[index], timeout)
            if progress is not None:
                progress.update()

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(max(1, concurrency))))
    return results, time.perf_counter() - start


def percentiles(values: list[float]) -> dict | None:
    if not values:
        return None
    array = np.asarray(values, dtype=np.float64)
    return {"mean": float(array.mean()), **{f"p{p}": float(np.percentile(array, p)) for p in PERCENTILES},
            "max": float(array.max())}


def summarize(results: list[RequestResult], duration_s: float, concurrency: int) -> dict:
    done = [r for r in results if r.ok]
    gaps = [b - a for r in done for a, b in zip(r.chunk_times_s, r.chunk_times_s[1:])]
    # vLLM's definition: the time after the first token, spread over the tokens that followed it
    tpot = [(r.latency_s - r.ttft_s) / (r.output_tokens - 1) for r in done if r.output_tokens > 1]
    output_tokens = sum(r.output_tokens for r in done)
    return {
        "requests": len(results), "succeeded": len(done), "failed": len(results) - len(done),
        "concurrency": concurrency, "duration_s": duration_s,
        "request_throughput_per_s": len(done) / duration_s if duration_s > 0 else None,
        "output_tokens": output_tokens,
        "output_throughput_tokens_per_s": output_tokens / duration_s if duration_s > 0 else None,
        "ttft_s": percentiles([r.ttft_s for r in done]),
        "itl_s": percentiles(gaps), "tpot_s": percentiles(tpot), "latency_s": percentiles([r.latency_s for r in done]),
        "mean_acceptance_length": _acceptance([r.spec_metrics for r in done if r.spec_metrics]),
        "errors": dict(Counter(r.error for r in results if not r.ok)),
    }


def _acceptance(metrics: list[dict]) -> float | None:
    """Tokens per verification step over all requests, bonus token included (as the server reports it)."""
    drafts = sum(m.get("num_drafts") or 0 for m in metrics)
    if not drafts:
        return None
    return (sum(m.get("num_accepted_tokens") or 0 for m in metrics) + drafts) / drafts


def format_summary(summary: dict) -> str:
    lines = [f"requests {summary['succeeded']}/{summary['requests']} ok, concurrency {summary['concurrency']}, "
             f"{summary['duration_s']:.2f} s",
             f"throughput {summary['request_throughput_per_s'] or 0:.2f} req/s, "
             f"{summary['output_throughput_tokens_per_s'] or 0:.1f} output tok/s"]
    if summary["mean_acceptance_length"] is not None:
        lines.append(f"mean acceptance length {summary['mean_acceptance_length']:.2f}")
    lines += ["", "| ms | mean | " + " | ".join(f"p{p}" for p in PERCENTILES) + " | max |",
              "|---|" + "---|" * (len(PERCENTILES) + 2)]
    for title, key in (("TTFT", "ttft_s"), ("ITL", "itl_s"), ("TPOT", "tpot_s"), ("latency", "latency_s")):
        stats = summary[key]
        if stats:
            cells = [stats["mean"], *(stats[f"p{p}"] for p in PERCENTILES), stats["max"]]
            lines.append(f"| {title} | " + " | ".join(f"{v * 1e3:.1f}" for v in cells) + " |")
    lines += [f"error ({count}x): {message}" for message, count in summary["errors"].items()]
    return "\n".join(lines)


async def _bench(args, client: httpx.AsyncClient) -> tuple[dict, list[RequestResult]]:
    urls = video_urls(args)
    warmup = [request_body(args, urls[i % len(urls)]) for i in range(args.warmup)]
    if warmup:
        await run_load(client, warmup, args.concurrency, args.timeout)
    bodies = [request_body(args, urls[i % len(urls)]) for i in range(args.requests)]
    with tqdm(total=len(bodies), desc="bench-serve", unit="req", file=sys.stderr) as progress:
        results, duration = await run_load(client, bodies, args.concurrency, args.timeout, progress)
    return summarize(results, duration, args.concurrency), results


def run(args, transport: httpx.AsyncBaseTransport | None = None) -> int:
    """`transport` replaces the network, e.g. httpx.ASGITransport(app) for an in-process app."""
    headers = {"Authorization": f"Bearer {args.api_key}"} if args.api_key else {}

    async def main():
        limits = httpx.Limits(max_connections=args.concurrency + 1)
        async with httpx.AsyncClient(base_url=args.base_url, headers=headers, transport=transport,
                                     limits=limits) as client:
            return await _bench(args, client)

    summary, results = asyncio.run(main())
    print(format_summary(summary))
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        meta = {"base_url": args.base_url, "max_tokens": args.max_tokens, "frames": args.frames,
                "method": args.method, "drop_rate": args.drop_rate, "ignore_eos": args.ignore_eos, **environment()}
        (out / "serve_results.json").write_text(json.dumps(
            {"summary": summary, "meta": meta, "requests": [asdict(r) for r in results]}, indent=2) + "\n")
        print(f"\nwrote {out / 'serve_results.json'}")
    return 0 if summary["succeeded"] else 1
