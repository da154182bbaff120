"""KV cache surgery after a verification step."""

from __future__ import annotations

import torch
from transformers import DynamicCache


def keep_tree_path(cache: DynamicCache, prefix_len: int, path: torch.Tensor) -> None:
    """Keep the committed prefix plus the tree nodes on the accepted `path` (node offsets
    after the prefix, in order); drop every other tree node."""
    index = torch.cat([torch.arange(prefix_len, device=path.device), prefix_len + path])
    for layer in cache.layers:
        index = index.to(layer.keys.device)
        layer.keys = layer.keys.index_select(-2, index)
        layer.values = layer.values.index_select(-2, index)


def truncate(cache: DynamicCache, length: int) -> None:
    """Forget everything after the first `length` tokens."""
    for layer in cache.layers:
        layer.keys = layer.keys[..., :length, :]
        layer.values = layer.values[..., :length, :]
