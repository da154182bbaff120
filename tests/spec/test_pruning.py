import pytest
import torch

from specvlm.spec.pruning import (attention_mass_prefix, keep_budget, select_video_tokens, specvlm_indices,
                                  uniform_indices)


def test_budget_floors_and_survives_float_error():
    assert keep_budget(100, 0.9) == 10
    assert keep_budget(10, 0.9) == 1  # 10 * (1 - 0.9) is 0.99999... in floating point
    assert keep_budget(19, 0.9) == 1
    assert keep_budget(7, 0.5) == 3
    assert keep_budget(5, 0.0) == 5
    with pytest.raises(ValueError):
        keep_budget(10, 1.0)


def test_uniform_spacing_includes_both_ends_and_is_distinct():
    assert uniform_indices(10, 4).tolist() == [0, 3, 6, 9]
    assert uniform_indices(5, 5).tolist() == [0, 1, 2, 3, 4]
    assert uniform_indices(7, 1).tolist() == [0]
    assert uniform_indices(7, 0).numel() == 0


def test_stage_one_takes_smallest_prefix_reaching_the_mass():
    scores = torch.tensor([0.05, 0.30, 0.05, 0.20, 0.40])
    # sorted: 0.40 (4), 0.30 (1), 0.20 (3) ...; 0.40 alone already holds 40%
    assert attention_mass_prefix(scores, 0.4, cap=5).tolist() == [4]
    # 50% needs the two largest
    assert attention_mass_prefix(scores, 0.5, cap=5).tolist() == [4, 1]
    # capped by the budget
    assert attention_mass_prefix(scores, 0.95, cap=2).tolist() == [4, 1]


def test_specvlm_fills_the_rest_uniformly_in_original_order():
    scores = torch.zeros(20)
    scores[17] = 10.0  # one token holds all the attention
    kept = specvlm_indices(scores, budget=4, attention_mass=0.4)
    # Stage I keeps 17; Stage II spreads 3 over the 19 others: positions 0, 9, 18 of them
    others = [i for i in range(20) if i != 17]
    assert kept.tolist() == sorted([17, others[0], others[9], others[18]])
    assert kept.tolist() == sorted(set(kept.tolist()))


def test_specvlm_stage_one_alone_when_it_fills_the_budget():
    scores = torch.arange(10, dtype=torch.float)  # mass concentrated at the end
    kept = specvlm_indices(scores, budget=2, attention_mass=0.9)
    assert kept.tolist() == [8, 9]


@pytest.mark.parametrize("strategy", ["specvlm", "attention", "uniform", "random"])
def test_every_strategy_keeps_exactly_the_budget_sorted(strategy):
    scores = torch.rand(50, generator=torch.Generator().manual_seed(0))
    kept = select_video_tokens(strategy, scores, drop_rate=0.9, generator=torch.Generator().manual_seed(1))
    assert kept.numel() == 5
    assert kept.tolist() == sorted(set(kept.tolist()))
    assert 0 <= kept.min() and kept.max() < 50


def test_attention_strategy_takes_top_scores():
    scores = torch.tensor([0.1, 0.9, 0.2, 0.8, 0.0, 0.7])
    assert select_video_tokens("attention", scores, drop_rate=0.5).tolist() == [1, 3, 5]


def test_none_keeps_everything_and_unknown_strategy_is_refused():
    assert select_video_tokens("none", torch.rand(7), 0.9).tolist() == list(range(7))
    with pytest.raises(ValueError, match="unknown pruning strategy"):
        select_video_tokens("magic", torch.rand(7), 0.9)
