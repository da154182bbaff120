"""Losslessness on a GPU (runs only where CUDA is available; CI has none).

float32 must match transformers exactly; bfloat16 may flip near-ties between the tree
verification and transformers' one-token steps, so it reports how many prompts match.
"""

import pytest
import torch

from specvlm.models.loading import load_pair

from engine.helpers import hf_greedy, inputs_for, run, text_prompt, video_prompt

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

PROMPTS = [video_prompt("what is the dog doing?", seeds=(s,)) for s in range(6)] + [
    video_prompt("how many people walk?", seeds=(1, 2)), text_prompt("the cat sits on the table and then")]


@pytest.mark.parametrize("family", ["qwen2_5_vl", "llava_onevision"])
@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_cuda_outputs_match_transformers(tiny_dirs, family, dtype, capsys):
    target, draft = tiny_dirs[family]
    pair = load_pair(str(target), str(draft), device="cuda", dtype=dtype)
    matches = 0
    for prompt in PROMPTS:
        inputs = inputs_for(pair, prompt)
        expected = hf_greedy(pair, inputs, 32)
        for method in ("naive", "specvlm"):
            tokens, stats, _ = run(pair, inputs, method=method, max_new_tokens=32)
            assert stats.num_drafts > 0
            matches += tokens == expected
    total = 2 * len(PROMPTS)
    with capsys.disabled():
        print(f"\n{family} {dtype} on {torch.cuda.get_device_name()}: {matches}/{total} outputs identical to HF")
    if dtype == "float32":
        assert matches == total
    else:
        assert matches >= total * 3 // 4


@pytest.mark.parametrize("family", ["qwen2_5_vl", "llava_onevision"])
def test_cuda_sampled_speculation(tiny_dirs, family):
    """A one-token nucleus makes sampled speculation greedy (exact in float32); ordinary sampling
    runs speculatively on the device's own random generator."""
    target, draft = tiny_dirs[family]
    pair = load_pair(str(target), str(draft), device="cuda", dtype="float32")
    inputs = inputs_for(pair, PROMPTS[0])
    tokens, stats, _ = run(pair, inputs, method="specvlm", temperature=1.0, top_p=1e-9, seed=0, max_new_tokens=24)
    assert tokens == hf_greedy(pair, inputs, 24) and stats.num_drafts > 0
    first, stats, _ = run(pair, inputs, method="naive", temperature=0.8, seed=1, max_new_tokens=24)
    again, _, _ = run(pair, inputs, method="naive", temperature=0.8, seed=1, max_new_tokens=24)
    assert first == again and stats.num_drafts > 0


def test_cuda_penalties_and_prefix_cache_match_transformers(tiny_dirs):
    """float32 on the device: a repetition penalty, and a follow-up turn whose video prefix
    (target KV cache, draft video features) comes from the prefix cache, equal HF generate."""
    from specvlm.models.prefix_cache import PrefixCache, prefix_key

    from engine.test_prefix_cache import conversation

    target, draft = tiny_dirs["qwen2_5_vl"]
    pair = load_pair(str(target), str(draft), device="cuda", dtype="float32")
    inputs = inputs_for(pair, PROMPTS[0])
    tokens, _, _ = run(pair, inputs, method="specvlm", max_new_tokens=24, repetition_penalty=1.5)
    assert tokens == hf_greedy(pair, inputs, 24, repetition_penalty=1.5)
    cache = PrefixCache(1 << 30)
    for turn in (conversation("what is the dog doing?"), conversation("what is the dog doing?", "and then?")):
        turn_inputs = inputs_for(pair, turn)
        tokens, stats, _ = run(pair, turn_inputs, method="specvlm", max_new_tokens=24, prefix_cache=cache,
                               prefix_key=prefix_key(turn_inputs, pair.target.video_token_id))
        assert tokens == hf_greedy(pair, turn_inputs, 24)
    assert stats.cached_prompt_tokens > 0
