"""Benchmarks: `specvlm bench` (offline, `offline`; random weights at real size, `random_weights`)
and `specvlm bench-serve` (HTTP load test, `serve_load`)."""
