import shutil

import pytest
import torch

from specvlm.models.loading import IncompatiblePairError, load_pair, resolve_dtype
from specvlm.models.tiny import build_tokenizer

from .helpers import hf_greedy, inputs_for, run, video_prompt


def test_refuses_a_draft_with_another_tokenizer(tiny_dirs, tmp_path):
    target, draft = tiny_dirs["qwen2_5_vl"]
    other = tmp_path / "draft"
    shutil.copytree(draft, other)
    tok = build_tokenizer("qwen2_5_vl", vocab_size=400)
    tok.save_pretrained(other)
    with pytest.raises(IncompatiblePairError, match="tokenizers differ"):
        load_pair(str(target), str(other), device="cpu")


def test_refuses_a_draft_of_another_family(tiny_dirs):
    with pytest.raises(IncompatiblePairError, match="family"):
        load_pair(str(tiny_dirs["qwen2_5_vl"][0]), str(tiny_dirs["llava_onevision"][1]), device="cpu")


def test_padded_draft_vocabulary_is_handled(tiny_dirs, tmp_path):
    """Sizes of one family pad their vocab differently; the draft may only propose real tokens."""
    from transformers import AutoModelForImageTextToText, AutoProcessor

    target, draft = tiny_dirs["llava_onevision"]
    padded = tmp_path / "padded_draft"
    model = AutoModelForImageTextToText.from_pretrained(str(draft))
    model.resize_token_embeddings(model.config.get_text_config().vocab_size + 64)
    model.save_pretrained(padded)
    AutoProcessor.from_pretrained(str(draft)).save_pretrained(padded)
    pair = load_pair(str(target), str(padded), device="cpu")
    limit = len(pair.tokenizer)
    assert pair.draft.vocab_limit == limit < pair.draft.text_config.vocab_size

    def padding_wins(module, args, logits):  # every argmax would be a padding id if allowed
        logits[..., limit:] = 1e4
        return logits

    pair.draft.model.get_output_embeddings().register_forward_hook(padding_wins)
    inputs = inputs_for(pair, video_prompt("what is the dog doing?"))
    tokens, stats, _ = run(pair, inputs, method="naive", max_new_tokens=20)
    assert tokens == hf_greedy(pair, inputs, 20)
    assert stats.num_accepted_tokens > 0


def test_dtype_defaults():
    assert resolve_dtype(None, torch.device("cpu")) == torch.float32
    assert resolve_dtype("auto", torch.device("cuda")) == torch.bfloat16
    with pytest.raises(ValueError):
        resolve_dtype("int3", torch.device("cpu"))


def test_prompt_embedding_keeps_no_autograd_graph(tiny_pairs):
    """The vision tower's activations must not be kept alive for a backward pass."""
    pair = tiny_pairs["qwen2_5_vl"]
    prompt = pair.target.embed_prompt(inputs_for(pair, video_prompt("what is the dog doing?")))
    assert not prompt.embeds.requires_grad and prompt.embeds.grad_fn is None
