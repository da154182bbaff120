"""Reported log-probabilities are the target's, row for row, whichever path chose the token."""

import pytest
import torch

from .helpers import hf_logits, inputs_for, run, video_prompt
from .test_speculation import FAMILIES


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("method, temperature", [("ar", 0.0), ("naive", 0.0), ("specvlm", 0.0),
                                                 ("specvlm", 1.0), ("ar", 1.0)])
def test_logprobs_match_hf_teacher_forcing(tiny_pairs, family, method, temperature):
    pair = tiny_pairs[family]
    inputs = inputs_for(pair, video_prompt("what is the dog doing?", seeds=(4,)))
    tokens, _, chunks = run(pair, inputs, method=method, temperature=temperature, seed=2, max_new_tokens=20,
                            logprobs=3)
    reported = [entry for c in chunks for entry in c.logprobs]
    assert [e.token_id for e in reported] == tokens
    expected = torch.log_softmax(hf_logits(pair, inputs, tokens).float(), dim=-1)
    got = torch.tensor([e.logprob for e in reported])
    assert torch.allclose(got, expected[torch.arange(len(tokens)), tokens], atol=1e-4)
    for entry, row in zip(reported, expected):
        ids = [i for i, _ in entry.top]
        assert ids == row[: pair.target.vocab_limit].topk(3).indices.tolist()
        assert torch.allclose(torch.tensor([lp for _, lp in entry.top]), row[ids], atol=1e-4)


def test_logprobs_are_cut_with_the_tokens(tiny_pairs):
    pair = tiny_pairs["qwen2_5_vl"]
    inputs = inputs_for(pair, video_prompt("count to ten", seeds=(11,)))
    for max_new_tokens in (1, 4, 9):
        tokens, _, chunks = run(pair, inputs, method="specvlm", max_new_tokens=max_new_tokens, logprobs=0)
        assert all(len(c.logprobs) == len(c.token_ids) for c in chunks)
        assert all(e.top == () for c in chunks for e in c.logprobs)
        assert sum(len(c.logprobs) for c in chunks) == len(tokens)
    _, _, chunks = run(pair, inputs, method="specvlm", max_new_tokens=4)
    assert all(c.logprobs is None for c in chunks)
