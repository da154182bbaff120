"""Speculative sampling end to end: every token follows the target's own sampling distribution."""

import pytest
import torch

from specvlm.spec.sampling import probabilities
from specvlm.spec.tree import DEFAULT_TREE, build_tree

from .helpers import hf_greedy, hf_logits, inputs_for, run, video_prompt
from .test_speculation import FAMILIES, noisy_drafting, self_drafting


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("method", ["naive", "specvlm"])
@pytest.mark.parametrize("tree", ["tree", "chain"])
@pytest.mark.parametrize("one_token", [dict(top_p=1e-9), dict(top_k=1)])
def test_a_one_token_nucleus_decodes_the_greedy_output(tiny_pairs, family, method, tree, one_token):
    """top_p near 0 (or top_k 1) leaves only the most likely token in every distribution, the
    draft's included, so sampled speculation must reproduce HF's greedy output exactly."""
    pair = tiny_pairs[family]
    inputs = inputs_for(pair, video_prompt("tell a story", seeds=(2,)))
    expected = hf_greedy(pair, inputs, 30)
    tokens, stats, _ = run(pair, inputs, method=method, tree=tree, temperature=1.0, seed=0, max_new_tokens=30,
                           **one_token)
    assert tokens == expected
    assert stats.method == method and stats.num_drafts > 0


@pytest.mark.parametrize("family", FAMILIES)
def test_a_self_draft_is_accepted_whole_when_sampling(tiny_pairs, family):
    """Draft and target distributions are equal, so every draw is accepted: this fails if the
    acceptance test used any distribution other than the one the draft drew from."""
    pair = self_drafting(tiny_pairs[family])
    inputs = inputs_for(pair, video_prompt("what is the dog doing?"))
    _, stats, chunks = run(pair, inputs, method="naive", temperature=1.0, seed=1, max_new_tokens=40,
                           ignore_eos=True)
    depth = build_tree(DEFAULT_TREE).max_depth
    assert all(len(c.token_ids) == depth + 1 for c in chunks[1:-1])


def test_seeded_sampling_is_reproducible_and_speculative(tiny_pairs):
    pair = tiny_pairs["qwen2_5_vl"]
    inputs = inputs_for(pair, video_prompt("tell a story"))
    a, stats, _ = run(pair, inputs, method="specvlm", temperature=1.0, top_p=0.9, seed=3, max_new_tokens=20)
    b, _, _ = run(pair, inputs, method="specvlm", temperature=1.0, top_p=0.9, seed=3, max_new_tokens=20)
    c, _, _ = run(pair, inputs, method="specvlm", temperature=1.0, top_p=0.9, seed=4, max_new_tokens=20)
    assert a == b and a != c
    assert stats.method == "specvlm" and stats.num_drafts > 0


def _target_distribution(pair, inputs, prefix: list[int], temperature: float, top_p: float) -> torch.Tensor:
    """The target's next-token distribution after the prompt and `prefix`, from HF's own forward."""
    return probabilities(hf_logits(pair, inputs, [*prefix, 0])[-1], temperature, top_p)


def _uniform_deviation(values: list[float]) -> float:
    """Kolmogorov-Smirnov distance between `values` and Uniform(0, 1)."""
    values = torch.tensor(sorted(values), dtype=torch.float64)
    n = values.numel()
    above = torch.arange(1, n + 1, dtype=torch.float64) / n - values
    below = values - torch.arange(n, dtype=torch.float64) / n
    return float(torch.maximum(above, below).max())


def test_sampled_tokens_follow_the_target_distribution(tiny_pairs):
    """Many seeded runs with a draft that is often wrong. For each speculated token x after a
    prefix, with p = HF's distribution after that prefix and tokens ordered most likely first,
    u = P(tokens before x) + U * p(x) is uniform on (0, 1) exactly when x ~ p, whatever the
    prefix (the randomized probability integral transform). Over-sampling likely tokens pulls
    u towards 0; under-sampling them pushes it up."""
    pair = noisy_drafting(tiny_pairs["qwen2_5_vl"], scale=0.6)
    inputs = inputs_for(pair, video_prompt("what is the dog doing?"))
    temperature, top_p, runs = 0.7, 0.95, 400
    jitter = torch.Generator().manual_seed(0)
    distributions, transformed, accepted, steps = {}, [], 0, 0
    for seed in range(runs):
        tokens, stats, _ = run(pair, inputs, method="naive", temperature=temperature, top_p=top_p, seed=seed,
                               max_new_tokens=3, ignore_eos=True)
        accepted += stats.num_accepted_tokens
        steps += stats.num_drafts
        for i in (1, 2):  # the first token comes from the prefill, the others from verification
            prefix = tuple(tokens[:i])
            if prefix not in distributions:
                distributions[prefix] = _target_distribution(pair, inputs, list(prefix), temperature, top_p)
            p = distributions[prefix]
            assert p[tokens[i]] > 0  # never outside the target's nucleus
            before = float(p[p > p[tokens[i]]].sum())
            transformed.append(before + float(torch.rand((), generator=jitter)) * float(p[tokens[i]]))
    assert 0 < accepted < steps  # about one step in two has a draw accepted: rejections are common
    deviation = _uniform_deviation(transformed)
    print(f"{len(transformed)} tokens, KS distance {deviation:.4f}, accepted {accepted} in {steps} steps")
    assert deviation < 0.06  # 800 values: 0.06 is beyond the 1% critical value (0.058)
