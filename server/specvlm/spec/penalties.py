"""Repetition, frequency and presence penalties, and a minimum length, over a draft tree.

Each depends on the tokens before the one being predicted, and in a draft tree every
node has its own past: the committed tokens plus the nodes on its path from the root. So each
row of tree logits is penalized with the committed history plus its own ancestors, and the
target's choice at every node is exactly the choice it would make there decoding alone.

- repetition (transformers' and vLLM's): a logit of a token seen in the prompt or the output
  is divided by the penalty when positive, multiplied by it when negative;
- frequency and presence (OpenAI's): subtract `frequency * count + presence * (count > 0)`,
  counting output tokens only;
- minimum length (vLLM's `min_tokens`, transformers' `min_new_tokens`): the stop tokens are
  impossible until that many tokens were emitted.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .tree import TreeBuffers


@dataclass(frozen=True)
class Penalties:
    repetition: float = 1.0
    frequency: float = 0.0
    presence: float = 0.0
    min_tokens: int = 0
    stop_ids: frozenset[int] = frozenset()  # what min_tokens holds back

    @property
    def active(self) -> bool:
        return (self.repetition != 1.0 or self.frequency != 0.0 or self.presence != 0.0
                or (self.min_tokens > 0 and bool(self.stop_ids)))


class TokenHistory:
    """Which tokens the prompt holds and how often each was emitted, on the logits' device."""

    def __init__(self, penalties: Penalties, prompt_ids: torch.Tensor, vocab: int, device: torch.device):
        self.penalties = penalties
        self.in_prompt = torch.zeros(vocab, dtype=torch.bool, device=device)
        self.in_prompt[prompt_ids.to(device)] = True
        self.counts = torch.zeros(vocab, dtype=torch.long, device=device)
        self.is_stop = torch.zeros(vocab, dtype=torch.bool, device=device)
        self.is_stop[[i for i in penalties.stop_ids if i < vocab]] = True

    def add(self, tokens: list[int]) -> None:
        ids = torch.tensor(tokens, device=self.counts.device)
        self.counts.index_put_((ids,), torch.ones_like(ids), accumulate=True)

    def apply(self, logits: torch.Tensor, extra: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        """Penalized float copy of `logits` [n, V]. `extra` = (rows, token ids): tokens that
        count for those rows only (a tree node's uncommitted ancestors and itself)."""
        vocab = logits.shape[-1]
        counts = self.counts[:vocab].expand(logits.shape[0], -1)
        if extra is not None:
            rows, ids = extra
            counts = counts.clone()
            counts.index_put_((rows, ids), torch.ones_like(ids), accumulate=True)
        logits = logits.float()
        p = self.penalties
        if p.min_tokens:
            emitted = self.counts.sum().expand(logits.shape[0])
            if extra is not None:
                emitted = emitted + torch.bincount(extra[0], minlength=logits.shape[0])
            too_early = (emitted < p.min_tokens)[:, None]
            logits = logits.masked_fill(too_early & self.is_stop[:vocab], float("-inf"))
        if p.repetition != 1.0:
            seen = self.in_prompt[:vocab] | (counts > 0)
            logits = torch.where(seen, torch.where(logits > 0, logits / p.repetition, logits * p.repetition), logits)
        if p.frequency or p.presence:
            logits = logits - p.frequency * counts - p.presence * (counts > 0)
        return logits


def tree_extra(tokens: torch.Tensor, rows: torch.Tensor, tree: TreeBuffers) -> tuple[torch.Tensor, torch.Tensor]:
    """(row index, token id) pairs: for the i-th node of `rows`, the tokens on its path below
    the root, itself included (the root is already committed)."""
    row_index, node = tree.ancestor_mask[rows][:, 1:].nonzero(as_tuple=True)
    return row_index, tokens[1:][node]
