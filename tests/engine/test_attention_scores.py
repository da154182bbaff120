"""The importance scores equal what eager attention would report, without running it."""

import pytest
import torch
from transformers import AutoModelForImageTextToText

from specvlm.decoding import _target_prefill
from specvlm.models.adapter import ModelAdapter

from .helpers import inputs_for, video_prompt


@pytest.mark.parametrize("family", ["qwen2_5_vl", "llava_onevision"])
def test_scores_match_eager_attention_probabilities(tiny_dirs, tiny_pairs, family):
    pair = tiny_pairs[family]
    inputs = inputs_for(pair, video_prompt("what is the dog doing?", seeds=(1, 2)))
    prompt = pair.target.embed_prompt(inputs)
    video = prompt.video_mask.nonzero().flatten()
    _, scores = _target_prefill(pair.target, pair.target.new_cache(), prompt, video, needs_scores=True)

    eager = AutoModelForImageTextToText.from_pretrained(str(tiny_dirs[family][0]), attn_implementation="eager").eval()
    with torch.inference_mode():
        out = eager(**inputs, output_attentions=True)
    text_rows = slice(int(video[-1]) + 1, None)
    per_layer = [a[0, :, text_rows][..., video].mean(dim=(0, 1)) for a in out.attentions]
    expected = torch.stack(per_layer).mean(0)
    assert scores.shape == (video.numel(),)
    torch.testing.assert_close(scores, expected, rtol=1e-4, atol=1e-6)
    assert scores.std() > 0  # not uniform: the pruning has something to go on


def test_specvlm_keeps_the_top_attended_tokens(tiny_pairs):
    from .helpers import run

    pair = tiny_pairs["qwen2_5_vl"]
    inputs = inputs_for(pair, video_prompt("where is the ball?"))
    prompt = pair.target.embed_prompt(inputs)
    video = prompt.video_mask.nonzero().flatten()
    _, scores = _target_prefill(pair.target, pair.target.new_cache(), prompt, video, needs_scores=True)
    _, stats, _ = run(pair, inputs, method="specvlm", pruning="attention", drop_rate=0.9, max_new_tokens=2)
    top = video[torch.topk(scores, stats.draft_video_tokens).indices]
    assert sorted(stats.kept_video_positions) == sorted(top.tolist())
