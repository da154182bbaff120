"""Reusing the target's KV cache of a video prefix changes nothing but the work done."""

import pytest
import torch

from specvlm.inputs import Prompt, VideoInput, build_inputs
from specvlm.media.synthetic import synthetic_frames
from specvlm.models.prefix_cache import PrefixCache, prefix_key, video_prefix_length

from .helpers import hf_greedy, inputs_for, run
from .test_speculation import FAMILIES

VIDEOS = {seed: VideoInput(synthetic_frames(seed, 8)) for seed in (0, 1)}


def conversation(*turns: str, video: int = 0) -> Prompt:
    """A chat about one video: user questions, with stand-in assistant answers between them."""
    messages = [{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": turns[0]}]}]
    for question in turns[1:]:
        messages += [{"role": "assistant", "content": [{"type": "text", "text": "a dog runs"}]},
                     {"role": "user", "content": [{"type": "text", "text": question}]}]
    return Prompt(messages, videos=[VIDEOS[video]])


def _no_video_tower(*args, **kwargs):
    raise AssertionError("a vision tower ran on a video whose prefix was cached")


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("method", ["ar", "naive", "specvlm"])
def test_follow_up_turns_reuse_the_video_prefix_and_match_hf(tiny_pairs, family, method, monkeypatch):
    pair = tiny_pairs[family]
    cache = PrefixCache(max_bytes=1 << 30)
    video_token = pair.target.video_token_id
    turns = [inputs_for(pair, conversation(*["what is the dog doing?", "and then?", "why?"][:n])) for n in (1, 2, 3)]
    expected = [hf_greedy(pair, inputs, 20) for inputs in turns]
    for n, inputs in enumerate(turns):
        if n == 1:  # from now on every video feature must come from the cache
            monkeypatch.setattr(pair.target, "_video_features", _no_video_tower)
            monkeypatch.setattr(pair.draft, "_video_features", _no_video_tower)
        key = prefix_key(inputs, video_token)
        tokens, stats, _ = run(pair, inputs, method=method, max_new_tokens=20, prefix_cache=cache, prefix_key=key)
        assert tokens == expected[n]
        split = video_prefix_length(inputs["input_ids"], video_token)
        assert stats.cached_prompt_tokens == (0 if n == 0 else split)
    assert len(cache) == 1 and cache.hits == 2 and cache.misses == 1


def test_a_hit_leaves_the_stored_prefix_intact(tiny_pairs):
    """Each hit decodes on its own copy: the same follow-up twice gives the same tokens."""
    pair = tiny_pairs["qwen2_5_vl"]
    cache = PrefixCache(max_bytes=1 << 30)
    first = inputs_for(pair, conversation("what is the dog doing?"))
    run(pair, first, max_new_tokens=4, prefix_cache=cache, prefix_key=prefix_key(first, pair.target.video_token_id))
    follow_up = inputs_for(pair, conversation("what is the dog doing?", "tell me more"))
    key = prefix_key(follow_up, pair.target.video_token_id)
    outputs = [run(pair, follow_up, max_new_tokens=30, prefix_cache=cache, prefix_key=key)[0] for _ in range(2)]
    assert outputs[0] == outputs[1] == hf_greedy(pair, follow_up, 30)


def test_keys_cover_the_video_pixels_and_the_text_before_it(tiny_pairs):
    pair = tiny_pairs["qwen2_5_vl"]

    def key(prompt: Prompt, pixel_limits: dict | None = None) -> str | None:
        return prefix_key(build_inputs(pair.processor, prompt, pixel_limits), pair.target.video_token_id)

    base = key(conversation("what is the dog doing?"))
    assert key(conversation("what is the dog doing?", "and then?")) == base  # only text after the video differs
    assert key(conversation("what is the dog doing?", video=1)) != base  # other pixels
    assert key(conversation("what is the dog doing?"), {"max_pixels": 28 * 28 * 4}) != base  # other resizing
    system = conversation("what is the dog doing?")
    system.messages.insert(0, {"role": "system", "content": [{"type": "text", "text": "be brief"}]})
    assert key(system) != base  # other text before the video
    assert key(Prompt([{"role": "user", "content": [{"type": "text", "text": "hi"}]}])) is None


def test_the_budget_evicts_the_least_recently_used(tiny_pairs):
    pair = tiny_pairs["qwen2_5_vl"]
    prompts = [inputs_for(pair, conversation("what is the dog doing?", video=v)) for v in (0, 1)]
    keys = [prefix_key(p, pair.target.video_token_id) for p in prompts]
    probe = PrefixCache(max_bytes=1 << 30)
    run(pair, prompts[0], max_new_tokens=1, prefix_cache=probe, prefix_key=keys[0])
    one_entry = probe.nbytes
    cache = PrefixCache(max_bytes=one_entry + one_entry // 2)
    for inputs, key in zip(prompts, keys):
        run(pair, inputs, max_new_tokens=1, prefix_cache=cache, prefix_key=key)
    assert len(cache) == 1 and cache.nbytes <= cache.max_bytes
    _, stats, _ = run(pair, prompts[1], max_new_tokens=1, prefix_cache=cache, prefix_key=keys[1])
    assert stats.cached_prompt_tokens > 0  # the newer one stayed
    too_small = PrefixCache(max_bytes=one_entry - 1)
    run(pair, prompts[0], max_new_tokens=1, prefix_cache=too_small, prefix_key=keys[0])
    assert len(too_small) == 0 and too_small.nbytes == 0


def _filled_cache(text_config, length: int):
    from specvlm.models.kv import new_cache

    cache = new_cache(text_config)
    for layer in cache.layers:
        layer.update(torch.randn(1, 2, length, 8), torch.randn(1, 2, length, 8))
    return cache


def test_draft_features_join_their_entry_and_evict_only_others(tiny_pairs):
    config = tiny_pairs["qwen2_5_vl"].target.text_config
    one = _filled_cache(config, 10)
    entry_bytes = sum(layer.keys.nbytes + layer.values.nbytes for layer in one.layers)
    features = torch.randn(5, 16)
    cache = PrefixCache(max_bytes=2 * entry_bytes + features.nbytes - 1)
    cache.store("old", one, 10)
    cache.store("new", _filled_cache(config, 10), 10)
    cache.store_draft_video("new", features)  # does not fit beside "old": "old" goes
    assert len(cache) == 1 and cache.restore("old", config) is None
    hit = cache.restore("new", config)
    assert torch.equal(hit.draft_video, features) and hit.cache.get_seq_length() == 10
    assert cache.nbytes == entry_bytes + features.nbytes
    cache.store_draft_video("gone", features)  # no entry: nothing stored
    assert cache.nbytes == entry_bytes + features.nbytes
