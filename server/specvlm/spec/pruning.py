"""Which video tokens the draft model gets to see.

All functions return the kept indices (into the video tokens, in original order) as a
sorted 1-D LongTensor. `scores` are the target's per-video-token importance scores.
"""

from __future__ import annotations

import math

import torch

STRATEGIES = ("specvlm", "attention", "uniform", "random", "none")


def keep_budget(num_video_tokens: int, drop_rate: float) -> int:
    """K = floor(N * (1 - drop_rate)); the epsilon keeps 10 * (1 - 0.9) from flooring to 0."""
    if not 0.0 <= drop_rate < 1.0:
        raise ValueError(f"drop_rate must be in [0, 1), got {drop_rate}")
    return min(num_video_tokens, math.floor(num_video_tokens * (1.0 - drop_rate) + 1e-6))


def uniform_indices(count: int, budget: int) -> torch.Tensor:
    """`budget` evenly spaced indices out of range(count), first and last included."""
    if budget <= 0 or count == 0:
        return torch.empty(0, dtype=torch.long)
    return torch.linspace(0, count - 1, min(budget, count), dtype=torch.float64).round().long()


def attention_mass_prefix(scores: torch.Tensor, mass: float, cap: int) -> torch.Tensor:
    """Stage I: the smallest set of top-scored tokens holding `mass` of the total score, at most `cap`."""
    order = torch.sort(scores.double(), descending=True, stable=True)
    target = mass * float(order.values.sum())
    if cap <= 0 or target <= 0:
        return torch.empty(0, dtype=torch.long)
    # relative slack: a prefix summing to exactly `mass` (up to rounding) is enough
    below = int((order.values.cumsum(0) < target * (1 - 1e-6)).sum())
    return order.indices[: min(below + 1, cap)]


def specvlm_indices(scores: torch.Tensor, budget: int, attention_mass: float = 0.4) -> torch.Tensor:
    """Verifier-guided Stage I, then Stage II spreads the rest of the budget uniformly."""
    chosen = attention_mass_prefix(scores, attention_mass, budget)
    rest = torch.ones(scores.numel(), dtype=torch.bool)
    rest[chosen] = False
    remaining = rest.nonzero().flatten()
    filler = remaining[uniform_indices(remaining.numel(), budget - chosen.numel())]
    return torch.sort(torch.cat([chosen, filler])).values


def attention_indices(scores: torch.Tensor, budget: int) -> torch.Tensor:
    return torch.sort(torch.topk(scores.double(), budget).indices).values


def random_indices(count: int, budget: int, generator: torch.Generator | None = None) -> torch.Tensor:
    return torch.sort(torch.randperm(count, generator=generator)[:budget]).values


def select_video_tokens(
    strategy: str,
    scores: torch.Tensor,
    drop_rate: float,
    attention_mass: float = 0.4,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Indices of the video tokens to keep for the draft under `strategy`."""
    scores = scores.detach().float().cpu()
    count = scores.numel()
    if strategy == "none":
        return torch.arange(count)
    budget = keep_budget(count, drop_rate)
    if strategy == "specvlm":
        return specvlm_indices(scores, budget, attention_mass)
    if strategy == "attention":
        return attention_indices(scores, budget)
    if strategy == "uniform":
        return uniform_indices(count, budget)
    if strategy == "random":
        return random_indices(count, budget, generator)
    raise ValueError(f"unknown pruning strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
