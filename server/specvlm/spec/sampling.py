"""Sampling distributions, and lossless speculative sampling over a draft tree.

With temperature > 0, a node's children are the draft's draws *without replacement* from its
distribution q, in draw order. The target walks them in that order (recursive rejection
sampling, Jeon et al. 2024, "Recursive Speculative Decoding"): child x is accepted with
probability min(1, p(x)/q(x)); on rejection p becomes the residual norm(max(p - q, 0)) and x
is removed from q (q renormalized), which is exactly the distribution the next draw came
from. When no child is accepted, or the node is a leaf, the bonus token is drawn from the
current p. Each step of this is the standard speculative-sampling lemma, so every emitted
token is distributed exactly as the target sampling alone would draw it.
"""

from __future__ import annotations

import torch

from .tree import TreeBuffers
from .verify import Acceptance


def probabilities(logits: torch.Tensor, temperature: float, top_p: float = 1.0, top_k: int = 0) -> torch.Tensor:
    """[..., V] next-token distributions: softmax at `temperature`, keeping only the `top_k`
    most likely tokens (0: all), then nucleus (top-p) filtering and renormalization, as
    transformers' warpers do. The most likely token always stays."""
    logits = logits.float() / temperature
    if 0 < top_k < logits.shape[-1]:
        kth = logits.topk(top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = torch.softmax(logits, dim=-1)
    if top_p < 1.0:
        sorted_probs, order = torch.sort(probs, dim=-1, descending=True)
        outside = sorted_probs.cumsum(-1) - sorted_probs > top_p
        probs = torch.zeros_like(probs).scatter(-1, order, sorted_probs.masked_fill(outside, 0.0))
        probs = probs / probs.sum(-1, keepdim=True)
    return probs


def sample_distinct(probs: torch.Tensor, k: int, generator: torch.Generator | None = None
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """k draws without replacement from each row of `probs`, in draw order, and whether each
    draw is real: a row with fewer than k tokens of positive probability pads with invalid ones.

    An exponential race: token i finishes at E_i / p_i, and the first k to finish are a
    sequential draw without replacement (the Gumbel-top-k trick, without logarithms).
    """
    race = torch.empty_like(probs).exponential_(generator=generator)
    keys = torch.where(probs > 0, probs / race, -1.0)
    tokens = keys.topk(k, dim=-1).indices
    return tokens, probs.gather(-1, tokens) > 0


def speculative_sample(tree_tokens: torch.Tensor, drawn: torch.Tensor, target_probs: torch.Tensor,
                       draft_probs: torch.Tensor, tree: TreeBuffers,
                       generator: torch.Generator | None = None) -> Acceptance:
    """Accept a path of a sampled draft tree so that the tokens follow the target's distribution.

    `tree_tokens[i]` is node i's token and `drawn[i]` whether it is a real draw (see
    `sample_distinct`); node i's children were drawn, in sibling order, from `draft_probs[i]`
    ([n, V_draft], V_draft <= V). `target_probs[i]` ([n, V]) is the target's distribution
    after node i.
    """
    tokens, real = tree_tokens.tolist(), drawn.tolist()
    node, path = 0, [0]
    while True:
        p, q = target_probs[node], None
        accepted = None
        for child in tree.children[node]:
            if not real[child]:
                break  # the draft had no probability mass left to draw from
            if q is None:
                q = torch.zeros_like(p)
                q[: draft_probs.shape[-1]] = draft_probs[node]
            else:
                q = q / q.sum()  # positive: this child was drawn from it
            x = tokens[child]
            if bool(torch.rand((), device=p.device, generator=generator) * q[x] < p[x]):
                accepted = child
                break
            residual = (p - q).clamp_(min=0)
            mass = residual.sum()
            # mass is 0 only when p == q up to rounding, where a rejection has probability ~0
            p = torch.where(mass > 0, residual / mass, p)
            q[x] = 0
        if accepted is None:
            bonus = int(torch.multinomial(p, 1, generator=generator))
            return Acceptance(path=path, tokens=[tokens[i] for i in path[1:]] + [bonus])
        node = accepted
        path.append(node)
