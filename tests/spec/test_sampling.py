"""Speculative sampling keeps the target's distribution: checked on a synthetic Markov
"language model" whose exact sequence distribution is known."""

import pytest
import torch

from specvlm.spec.sampling import probabilities, sample_distinct, speculative_sample
from specvlm.spec.tree import build_tree

VOCAB = 5


def _markov(seed: int, zeros: int = 0) -> torch.Tensor:
    """[V, V] next-token distributions given the last token; `zeros` entries per row set to 0."""
    gen = torch.Generator().manual_seed(seed)
    table = torch.rand(VOCAB, VOCAB, generator=gen) ** 2 + 0.02
    for row in table:
        row[torch.randperm(VOCAB, generator=gen)[:zeros]] = 0.0
    return table / table.sum(-1, keepdim=True)


def _sample_sequences(target, draft, tree, length: int, trials: int, seed: int) -> torch.Tensor:
    """[trials, length] sequences after token 0, decoded by speculation over `tree`."""
    gen = torch.Generator().manual_seed(seed)
    out = torch.empty(trials, length, dtype=torch.long)
    for trial in range(trials):
        emitted = []
        while len(emitted) < length:
            tokens = torch.zeros(tree.num_nodes, dtype=torch.long)
            tokens[0] = emitted[-1] if emitted else 0
            drawn = torch.ones(tree.num_nodes, dtype=torch.bool)
            for node, children in enumerate(tree.children):  # parents come before children
                if children:
                    draws, real = sample_distinct(draft[tokens[node]], len(children), gen)
                    tokens[list(children)], drawn[list(children)] = draws, real
            acceptance = speculative_sample(tokens, drawn, target[tokens], draft[tokens], tree, gen)
            emitted += acceptance.tokens
        out[trial] = torch.tensor(emitted[:length])
    return out


def _exact_pairs(target) -> torch.Tensor:
    return target[0][:, None] * target  # P(x1, x2) = p(x1 | 0) p(x2 | x1)


def _total_variation(samples: torch.Tensor, exact: torch.Tensor) -> float:
    counts = torch.bincount(samples[:, 0] * VOCAB + samples[:, 1], minlength=VOCAB * VOCAB).float()
    return 0.5 * float((counts / counts.sum() - exact.flatten()).abs().sum())


TREES = {
    "wide": [(0,), (1,), (2,), (0, 0), (0, 1), (1, 0)],
    "gapped": [(0,), (2,), (0, 1), (2, 0)],  # ranks with gaps: children take draws in order
    "chain": [(0,), (0, 0), (0, 0, 0)],
}


@pytest.mark.parametrize("shape", TREES)
@pytest.mark.parametrize("draft_zeros", [0, 3])  # 3: only 2 tokens to draw from, fewer than 3 children
def test_sequences_follow_the_target_distribution(shape, draft_zeros):
    target, draft = _markov(1, zeros=1), _markov(2, zeros=draft_zeros)
    samples = _sample_sequences(target, draft, build_tree(TREES[shape]), length=2, trials=6000, seed=3)
    # 25 cells, 6000 draws: sampling noise alone gives TV about 0.02
    assert _total_variation(samples, _exact_pairs(target)) < 0.04


def test_a_draft_equal_to_the_target_is_always_accepted():
    target = _markov(1)
    tree = build_tree(TREES["chain"])
    gen = torch.Generator().manual_seed(0)
    for _ in range(200):
        tokens = torch.zeros(tree.num_nodes, dtype=torch.long)
        for node in range(1, tree.num_nodes):
            tokens[node] = sample_distinct(target[tokens[node - 1]], 1, gen)[0]
        acc = speculative_sample(tokens, torch.ones_like(tokens, dtype=torch.bool), target[tokens], target[tokens],
                                 tree, gen)
        assert acc.num_accepted == 3 and acc.tokens[:3] == tokens[1:].tolist()


def test_draws_are_distinct_and_padded_when_mass_runs_out():
    probs = torch.tensor([[0.5, 0.0, 0.5, 0.0], [0.1, 0.2, 0.3, 0.4]])
    tokens, real = sample_distinct(probs, 3, torch.Generator().manual_seed(0))
    assert sorted(tokens[0, :2].tolist()) == [0, 2] and real[0].tolist() == [True, True, False]
    assert len(set(tokens[1].tolist())) == 3 and real[1].all()


def test_first_draw_follows_the_distribution():
    probs = torch.tensor([0.1, 0.2, 0.3, 0.4]).expand(20000, 4)
    tokens, _ = sample_distinct(probs, 2, torch.Generator().manual_seed(0))
    freq = torch.bincount(tokens[:, 0], minlength=4) / 20000
    assert torch.allclose(freq, probs[0], atol=0.015)


def test_top_p_keeps_the_nucleus_and_renormalizes():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    assert torch.allclose(probabilities(logits, 1.0, 0.7), torch.tensor([[0.625, 0.375, 0.0, 0.0]]))
    assert torch.allclose(probabilities(logits, 1.0, 1e-9), torch.tensor([[1.0, 0.0, 0.0, 0.0]]))
    assert torch.allclose(probabilities(logits, 1.0, 1.0), torch.tensor([[0.5, 0.3, 0.15, 0.05]]))


def test_top_k_keeps_the_k_most_likely_before_top_p():
    logits = torch.log(torch.tensor([[0.1, 0.5, 0.15, 0.25]]))
    assert torch.allclose(probabilities(logits, 1.0, top_k=2), torch.tensor([[0.0, 0.5, 0.0, 0.25]]) / 0.75)
    # top-k first (0.5, 0.25 -> 2/3, 1/3), then top-p 0.6 keeps only the first
    assert torch.allclose(probabilities(logits, 1.0, top_p=0.6, top_k=2), torch.tensor([[0.0, 1.0, 0.0, 0.0]]))
    assert torch.allclose(probabilities(logits, 1.0, top_k=0), probabilities(logits, 1.0))
