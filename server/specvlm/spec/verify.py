"""Greedy acceptance of a verified draft tree."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .tree import TreeBuffers


@dataclass(frozen=True)
class Acceptance:
    path: list[int]  # node indices from the root to the deepest accepted node
    tokens: list[int]  # accepted draft tokens (excluding the root), then the bonus token

    @property
    def num_accepted(self) -> int:
        """Draft tokens accepted (the bonus token is not a draft token)."""
        return len(self.path) - 1


def greedy_accept(tree_tokens: torch.Tensor, target_argmax: torch.Tensor, tree: TreeBuffers) -> Acceptance:
    """Longest root-to-node path whose every token is the target's argmax at its parent.

    `tree_tokens[i]` is node i's token (node 0 the root) and `target_argmax[i]` the target's
    greedy next token after node i. Siblings hold distinct tokens, so at most one child of a
    node can match and the accepted nodes form a single chain.
    """
    tokens = tree_tokens.tolist()
    argmax = target_argmax.tolist()
    parent = tree.parent.tolist()
    accepted = [True] + [False] * (len(tokens) - 1)
    deepest = 0
    for node in range(1, len(tokens)):  # parents come before children
        p = parent[node]
        if accepted[p] and tokens[node] == argmax[p]:
            accepted[node] = True
            deepest = node
    path = [deepest]
    while path[-1] != 0:
        path.append(parent[path[-1]])
    path.reverse()
    return Acceptance(path=path, tokens=[tokens[i] for i in path[1:]] + [argmax[deepest]])
