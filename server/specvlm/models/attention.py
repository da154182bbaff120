"""SDPA attention that can also report how much the text queries attend to video keys.

Registered with transformers under ATTENTION_IMPLEMENTATION. It is plain SDPA unless a
forward call passes `video_attention=VideoAttentionScores(...)`: transformers hands extra
forward kwargs down to every attention call, so the scores are computed from the layer's
own (rotated) queries and cached keys, a few rows at a time, while the model keeps its
fast attention kernel.
"""

from __future__ import annotations

import torch
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

ATTENTION_IMPLEMENTATION = "specvlm_sdpa"

# Cap on the fp32 scores materialised at once (elements), per chunk of key-value heads.
_SCORE_CHUNK_ELEMENTS = 1 << 26


class VideoAttentionScores:
    """Accumulates, over layers, the attention mass of the new queries on the video keys.

    The queries are the last `q` tokens of the sequence (a prefill continuing a cache), so
    query i sees keys 0 .. kv_len - q + i. Scores are averaged over heads and queries per
    layer; `scores()` averages over layers.
    """

    def __init__(self, video_positions: torch.Tensor):
        self.video_positions = video_positions
        self.total: torch.Tensor | None = None
        self.layers = 0

    def observe(self, query: torch.Tensor, key: torch.Tensor, scaling: float) -> None:
        _, num_heads, q_len, head_dim = query.shape
        kv_heads, kv_len = key.shape[1], key.shape[2]
        groups = num_heads // kv_heads
        # [kv_heads, groups * q_len, head_dim]: GQA without repeating the keys.
        queries = query[0].reshape(kv_heads, groups * q_len, head_dim)
        visible = torch.arange(kv_len, device=key.device)[None, :] <= (
            kv_len - q_len + torch.arange(q_len, device=key.device)[:, None])
        visible = visible.repeat(groups, 1)
        video = self.video_positions.to(key.device)
        layer_total = torch.zeros(video.numel(), dtype=torch.float32, device=key.device)
        heads_per_chunk = max(1, _SCORE_CHUNK_ELEMENTS // max(1, groups * q_len * kv_len))
        for h in range(0, kv_heads, heads_per_chunk):
            logits = torch.matmul(queries[h:h + heads_per_chunk].float(),
                                  key[0, h:h + heads_per_chunk].float().transpose(-1, -2)) * scaling
            probs = logits.masked_fill(~visible, float("-inf")).softmax(dim=-1)
            layer_total += probs[..., video].sum(dim=(0, 1))
        layer_mean = layer_total / (num_heads * q_len)
        self.total = layer_mean if self.total is None else self.total + layer_mean
        self.layers += 1

    def scores(self) -> torch.Tensor:
        if self.total is None:
            raise RuntimeError("no attention layer reported video attention scores")
        return self.total / self.layers


def _attention(module, query, key, value, attention_mask, scaling=None, video_attention=None, **kwargs):
    if video_attention is not None:
        video_attention.observe(query, key, scaling if scaling is not None else module.scaling)
    return sdpa_attention_forward(module, query, key, value, attention_mask, scaling=scaling, **kwargs)


AttentionInterface.register(ATTENTION_IMPLEMENTATION, _attention)
AttentionMaskInterface.register(ATTENTION_IMPLEMENTATION, sdpa_mask)
