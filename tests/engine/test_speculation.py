"""Speculation really runs: acceptance behaves as the draft's quality says it must."""

import copy

import pytest
import torch

from specvlm.models.adapter import ModelAdapter
from specvlm.models.loading import ModelPair
from specvlm.spec.tree import DEFAULT_TREE, build_tree

from .helpers import hf_greedy, inputs_for, run, video_prompt

FAMILIES = ["qwen2_5_vl", "llava_onevision"]


def self_drafting(pair) -> ModelPair:
    """The target as its own draft."""
    return ModelPair(pair.target, ModelAdapter(pair.target.model, pair.target.family, pair.target.vocab_limit),
                     pair.processor)


def noisy_drafting(pair, scale: float) -> ModelPair:
    draft = copy.deepcopy(pair.target.model)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, param in draft.named_parameters():
            if "language_model.layers" in name and param.ndim == 2:
                param.add_(torch.randn(param.shape, generator=gen) * param.std() * scale)
    return ModelPair(pair.target, ModelAdapter(draft, pair.target.family, pair.target.vocab_limit), pair.processor)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("tree", ["tree", "chain"])
def test_self_draft_accepts_the_whole_depth_every_step(tiny_pairs, family, tree):
    pair = self_drafting(tiny_pairs[family])
    inputs = inputs_for(pair, video_prompt("what is the dog doing?"))
    expected = hf_greedy(pair, inputs, 40)
    # no pruning and the target's own positions: the draft is the target
    tokens, stats, chunks = run(pair, inputs, method="naive", tree=tree, draft_positions="original", max_new_tokens=40)
    assert tokens == expected
    depth = build_tree(DEFAULT_TREE).max_depth
    spec_chunks = chunks[1:]  # the first chunk is the prefill's token
    assert all(len(c.token_ids) == depth + 1 for c in spec_chunks[:-1])
    assert stats.num_accepted_tokens >= depth * (stats.num_drafts - 1)
    if len(expected) == 40 and (40 - 1) % (depth + 1) == 0:
        assert stats.mean_acceptance_length == depth + 1


@pytest.mark.parametrize("family", FAMILIES)
def test_noisy_draft_accepts_partially_and_stays_lossless(tiny_pairs, family):
    pair = noisy_drafting(tiny_pairs[family], scale=0.3)
    for seed in (0, 5):
        inputs = inputs_for(pair, video_prompt("what happens next?", seeds=(seed,)))
        expected = hf_greedy(pair, inputs, 32)
        tokens, stats, _ = run(pair, inputs, method="naive", draft_positions="original", max_new_tokens=32)
        assert tokens == expected
        assert 0 < stats.num_accepted_tokens < stats.num_draft_tokens
        assert 1.0 < stats.mean_acceptance_length < 6.0


@pytest.mark.parametrize("family", FAMILIES)
def test_bundled_tiny_draft_speculates(tiny_pairs, family):
    """The demo pair's draft (a layer subset of the target) gets real acceptance."""
    pair = tiny_pairs[family]
    accepted = 0
    for seed in range(3):
        inputs = inputs_for(pair, video_prompt("describe the video", seeds=(seed,)))
        _, stats, _ = run(pair, inputs, method="naive", max_new_tokens=32)
        accepted += stats.num_accepted_tokens
    assert accepted > 0
