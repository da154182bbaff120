"""Prometheus metrics, named after vLLM's under a `specvlm:` prefix."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

_LATENCY_BUCKETS = (0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_TTFT_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 40.0, 80.0, 160.0)


class Metrics:
    """One registry per app, so several apps (tests) never share counters."""

    def __init__(self):
        self.registry = r = CollectorRegistry()
        self.requests = Counter("specvlm:requests", "Finished HTTP requests by status code", ["status"], registry=r)
        self.running = Gauge("specvlm:num_requests_running", "Requests being decoded", registry=r)
        self.waiting = Gauge("specvlm:num_requests_waiting", "Requests waiting for the worker", registry=r)
        self.ttft = Histogram("specvlm:time_to_first_token_seconds", "Queueing plus prefill until the first token",
                              buckets=_TTFT_BUCKETS, registry=r)
        self.inter_token = Histogram("specvlm:inter_token_latency_seconds", "Time per output token after the first",
                                     buckets=_LATENCY_BUCKETS, registry=r)
        self.video_decode = Histogram("specvlm:video_decode_seconds", "Fetching and decoding one request's media",
                                      buckets=_TTFT_BUCKETS, registry=r)
        self.prompt_tokens = Counter("specvlm:prompt_tokens", "Prompt tokens processed", registry=r)
        self.cached_prompt_tokens = Counter("specvlm:prefix_cache_hit_tokens",
                                            "Prompt tokens whose target KV cache was reused", registry=r)
        self.prefix_cache_bytes = Gauge("specvlm:prefix_cache_bytes", "Bytes held by the video prefix cache",
                                        registry=r)
        self.generation_tokens = Counter("specvlm:generation_tokens", "Tokens generated", registry=r)
        self.num_drafts = Counter("specvlm:spec_decode_num_drafts", "Speculative verification steps", registry=r)
        self.num_draft_tokens = Counter("specvlm:spec_decode_num_draft_tokens", "Draft tokens proposed", registry=r)
        self.num_accepted_tokens = Counter("specvlm:spec_decode_num_accepted_tokens", "Draft tokens accepted",
                                           registry=r)

    def render(self) -> bytes:
        return generate_latest(self.registry)
