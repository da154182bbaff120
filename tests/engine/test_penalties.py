"""Penalties stay lossless: speculation picks what HF's generate picks under the same penalties."""

import pytest
import torch
from transformers import LogitsProcessor, LogitsProcessorList

from .helpers import hf_greedy, inputs_for, run, video_prompt
from .test_speculation import FAMILIES


class OpenAIPenalties(LogitsProcessor):
    """OpenAI's frequency and presence penalties over the output tokens, written for HF's generate."""

    def __init__(self, prompt_length: int, frequency: float, presence: float):
        self.prompt_length, self.frequency, self.presence = prompt_length, frequency, presence

    def __call__(self, input_ids, scores):
        out = input_ids[:, self.prompt_length:]
        counts = torch.zeros_like(scores).scatter_add_(1, out, torch.ones_like(out, dtype=scores.dtype))
        return scores - self.frequency * counts - self.presence * (counts > 0)


def hf_penalized(pair, inputs, max_new_tokens, repetition=1.0, frequency=0.0, presence=0.0) -> list[int]:
    processors = LogitsProcessorList()
    if frequency or presence:
        processors.append(OpenAIPenalties(inputs["input_ids"].shape[1], frequency, presence))
    return hf_greedy(pair, inputs, max_new_tokens, repetition_penalty=repetition, logits_processor=processors)


PENALTIES = {
    "repetition": dict(repetition_penalty=1.5),
    "frequency": dict(frequency_penalty=1.0),
    "presence+frequency": dict(presence_penalty=1.5, frequency_penalty=0.5),
}


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("penalty", PENALTIES)
@pytest.mark.parametrize("method, tree", [("ar", "tree"), ("naive", "tree"), ("specvlm", "tree"),
                                          ("specvlm", "chain")])
def test_penalized_greedy_equals_hf(tiny_pairs, family, penalty, method, tree):
    pair = tiny_pairs[family]
    kwargs = PENALTIES[penalty]
    inputs = inputs_for(pair, video_prompt("count the dogs, again and again", seeds=(3,)))
    expected = hf_penalized(pair, inputs, 40, kwargs.get("repetition_penalty", 1.0),
                            kwargs.get("frequency_penalty", 0.0), kwargs.get("presence_penalty", 0.0))
    assert expected != hf_greedy(pair, inputs, 40)  # the penalty changes the output
    tokens, stats, _ = run(pair, inputs, method=method, tree=tree, max_new_tokens=40, **kwargs)
    assert tokens == expected
    assert method == "ar" or stats.num_drafts > 0


def test_penalized_sampling_with_a_one_token_nucleus_is_penalized_greedy(tiny_pairs):
    pair = tiny_pairs["qwen2_5_vl"]
    inputs = inputs_for(pair, video_prompt("count the dogs, again and again", seeds=(3,)))
    expected = hf_penalized(pair, inputs, 30, repetition=1.5)
    tokens, stats, _ = run(pair, inputs, method="specvlm", temperature=1.0, top_k=1, seed=0, max_new_tokens=30,
                           repetition_penalty=1.5)
    assert tokens == expected and stats.num_drafts > 0


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("method", ["ar", "naive", "specvlm"])
@pytest.mark.parametrize("offset", [-1, 6])
def test_min_tokens_holds_eos_back_like_hf_min_new_tokens(tiny_pairs, family, method, offset):
    """-1: EOS becomes possible exactly where the output ends anyway, so it must still end
    there (a tree node deeper than the committed tokens counts its own path); 6: past it."""
    from .test_stopping_and_stats import _prompt_hitting_eos

    pair = tiny_pairs[family]
    inputs, natural = _prompt_hitting_eos(pair)
    minimum = len(natural) + offset
    limit = minimum + 10
    expected = hf_greedy(pair, inputs, limit, min_new_tokens=minimum)
    assert expected == natural if offset < 0 else len(expected) >= minimum
    tokens, stats, _ = run(pair, inputs, method=method, max_new_tokens=limit, min_tokens=minimum)
    assert tokens == expected
    assert method == "ar" or stats.num_drafts > 0
