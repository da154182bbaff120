import pytest
import torch

from specvlm.decoding import DecodingParams, stop_token_ids

from .helpers import hf_greedy, inputs_for, run, video_prompt


@pytest.fixture(scope="module")
def qwen(tiny_pairs):
    return tiny_pairs["qwen2_5_vl"]


def _prompt_hitting_eos(pair, limit=200):
    """A prompt whose greedy output ends with a stop token within `limit` tokens."""
    stops = stop_token_ids(pair)
    for seed in range(40):
        inputs = inputs_for(pair, video_prompt("answer in one word", seeds=(seed,)))
        expected = hf_greedy(pair, inputs, limit)
        if expected[-1] in stops and len(expected) > 3:
            return inputs, expected
    pytest.fail("no tiny prompt reaches EOS")


@pytest.mark.parametrize("method", ["ar", "naive", "specvlm"])
def test_stops_at_eos_like_hf(qwen, method):
    inputs, expected = _prompt_hitting_eos(qwen)
    tokens, _, chunks = run(qwen, inputs, method=method, max_new_tokens=200)
    assert tokens == expected  # EOS included, nothing after it
    assert chunks[-1].finish_reason == "stop"
    assert all(c.finish_reason is None for c in chunks[:-1])


@pytest.mark.parametrize("method", ["ar", "naive", "specvlm"])
@pytest.mark.parametrize("max_new_tokens", [1, 2, 7, 13])
def test_never_emits_past_max_tokens(qwen, method, max_new_tokens):
    inputs = inputs_for(qwen, video_prompt("count to ten", seeds=(11,)))
    expected = hf_greedy(qwen, inputs, max_new_tokens)
    tokens, stats, chunks = run(qwen, inputs, method=method, max_new_tokens=max_new_tokens, draft_positions="original")
    assert tokens == expected
    if expected[-1] not in stop_token_ids(qwen):
        assert len(tokens) == max_new_tokens
        assert chunks[-1].finish_reason == "length"
    assert stats.completion_tokens == len(tokens)


@pytest.mark.parametrize("method", ["ar", "naive", "specvlm"])
def test_stop_token_ids_end_the_output_where_they_first_appear(qwen, method):
    inputs = inputs_for(qwen, video_prompt("count to ten", seeds=(11,)))
    expected = hf_greedy(qwen, inputs, 30)
    stop_at = next(i for i in range(3, len(expected)) if expected[i] not in expected[:i])
    tokens, _, chunks = run(qwen, inputs, method=method, max_new_tokens=30, stop_token_ids=(expected[stop_at],))
    assert tokens == expected[: stop_at + 1]  # the stop token is kept, as vLLM keeps a non-special one
    assert chunks[-1].finish_reason == "stop"


def test_stats_are_consistent(qwen):
    inputs = inputs_for(qwen, video_prompt("what is the dog doing?"))
    tokens, stats, chunks = run(qwen, inputs, method="specvlm", max_new_tokens=30, drop_rate=0.9)
    assert stats.method == "specvlm"
    assert stats.prompt_tokens == inputs["input_ids"].shape[1]
    assert stats.video_tokens == int((inputs["input_ids"][0] == qwen.target.video_token_id).sum())
    assert stats.draft_video_tokens == stats.video_tokens // 10
    assert len(stats.kept_video_positions) == stats.draft_video_tokens
    assert stats.num_drafts == len(chunks) - 1
    assert stats.num_draft_tokens == 25 * stats.num_drafts
    emitted = sum(len(c.token_ids) for c in chunks[1:])
    # every step emits accepted + 1 tokens, the last one possibly cut by max_new_tokens
    assert emitted <= stats.num_accepted_tokens + stats.num_drafts
    assert stats.mean_acceptance_length == (stats.num_accepted_tokens + stats.num_drafts) / stats.num_drafts
    assert stats.prefill_s > 0 and stats.decode_s > 0


def test_invalid_params_are_refused():
    for bad in (dict(method="fast"), dict(pruning="magic"), dict(drop_rate=1.0), dict(max_new_tokens=0),
                dict(draft_positions="shifted"), dict(tree="bush"), dict(top_p=0.0)):
        with pytest.raises(ValueError):
            DecodingParams(**bad)


def test_speculation_without_draft_is_refused(tiny_pairs):
    from specvlm.models.loading import ModelPair

    pair = tiny_pairs["qwen2_5_vl"]
    target_only = ModelPair(pair.target, None, pair.processor)
    inputs = inputs_for(pair, video_prompt("hi"))
    with pytest.raises(ValueError, match="needs a draft"):
        run(target_only, inputs, method="specvlm", max_new_tokens=4)
    tokens, _, _ = run(target_only, inputs, method="ar", max_new_tokens=4)
    assert tokens == hf_greedy(pair, inputs, 4)


def test_ignore_eos_decodes_the_full_budget(qwen):
    inputs, expected = _prompt_hitting_eos(qwen)
    tokens, _, chunks = run(qwen, inputs, method="specvlm", max_new_tokens=len(expected) + 10, ignore_eos=True)
    assert tokens[: len(expected)] == expected
    assert len(tokens) == len(expected) + 10 and chunks[-1].finish_reason == "length"
