"""Tiny target/draft checkpoints of both families, generated offline in seconds.

They go through the very same loading code as a real checkpoint: a directory with
config.json, safetensors weights, a tokenizer (our own small byte-level BPE), a processor
config and a chat template. Weights are random but widened, so greedy output is diverse
and depends on the video instead of repeating one token.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

FAMILIES = ("qwen2_5_vl", "llava_onevision")

_WORDS = (
    "the a an video frame shows person people man woman child dog cat car ball tree house road "
    "water sky red blue green yellow black white small large fast slow left right up down "
    "walks runs jumps sits stands holds throws catches opens closes moves turns looks smiles "
    "in on at near behind under over with without and or but then while after before first "
    "second third last scene camera light dark day night room table chair door window street "
    "park beach kitchen game question answer what where who when why how many is are was were "
    "one two three four five six seven eight nine ten time start end begin finish describe"
).split()

_SPECIAL = {
    "qwen2_5_vl": ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
                   "<|image_pad|>", "<|video_pad|>"],
    "llava_onevision": ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<image>", "<video>"],
}

_PART = (
    "{% if part['type'] == 'text' %}{{ part['text'] }}"
    "{% elif part['type'] == 'image' %}{IMAGE}"
    "{% elif part['type'] == 'video' %}{VIDEO}"
    "{% endif %}"
)
_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}" + _PART + "{% endfor %}{% endif %}"
    "<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
CHAT_TEMPLATES = {
    "qwen2_5_vl": _TEMPLATE.replace("{IMAGE}", "<|vision_start|><|image_pad|><|vision_end|>")
    .replace("{VIDEO}", "<|vision_start|><|video_pad|><|vision_end|>"),
    "llava_onevision": _TEMPLATE.replace("{IMAGE}", "<image>\n").replace("{VIDEO}", "<video>\n"),
}


def _corpus() -> list[str]:
    gen = torch.Generator().manual_seed(0)
    lines = []
    for _ in range(2000):
        idx = torch.randint(len(_WORDS), (int(torch.randint(4, 14, (1,), generator=gen)),), generator=gen)
        lines.append(" ".join(_WORDS[i] for i in idx.tolist()) + ".")
    return lines


def build_tokenizer(family: str, vocab_size: int = 512):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    special = _SPECIAL[family]
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=special,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    bpe.train_from_iterator(_corpus(), trainer)
    extra = {"image_token": special[-2], "video_token": special[-1]}
    if family == "qwen2_5_vl":
        extra.update(vision_bos_token="<|vision_start|>", vision_eos_token="<|vision_end|>")
    tok = PreTrainedTokenizerFast(
        tokenizer_object=bpe, eos_token="<|im_end|>", pad_token="<|endoftext|>",
        additional_special_tokens=special[1:], extra_special_tokens=extra,
    )
    tok.chat_template = CHAT_TEMPLATES[family]
    return tok


def _qwen_config(vocab: int, hidden: int, layers: int, heads: int, kv_heads: int, tok) -> "object":
    from transformers import Qwen2_5_VLConfig

    assert hidden // heads == 16, "mrope_section below assumes head_dim 16"
    return Qwen2_5_VLConfig(
        text_config=dict(
            vocab_size=vocab, hidden_size=hidden, intermediate_size=hidden * 2, num_hidden_layers=layers,
            num_attention_heads=heads, num_key_value_heads=kv_heads, max_position_embeddings=4096,
            rope_parameters={"rope_type": "default", "rope_theta": 10000.0,
                             "mrope_section": [2, 3, 3]},
            tie_word_embeddings=False, **_token_ids(tok),
        ),
        vision_config=dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=hidden,
                           patch_size=14, spatial_merge_size=2, temporal_patch_size=2, window_size=56,
                           fullatt_block_indexes=[1], in_channels=3),
        image_token_id=tok.convert_tokens_to_ids("<|image_pad|>"),
        video_token_id=tok.convert_tokens_to_ids("<|video_pad|>"),
        vision_start_token_id=tok.convert_tokens_to_ids("<|vision_start|>"),
        vision_end_token_id=tok.convert_tokens_to_ids("<|vision_end|>"),
        tie_word_embeddings=False, **_token_ids(tok),
    )


def _token_ids(tok) -> dict:
    return {"bos_token_id": None, "eos_token_id": tok.eos_token_id, "pad_token_id": tok.pad_token_id}


def _llava_config(vocab: int, hidden: int, layers: int, heads: int, kv_heads: int, tok) -> "object":
    from transformers import LlavaOnevisionConfig

    return LlavaOnevisionConfig(
        text_config=dict(
            model_type="qwen2", vocab_size=vocab, hidden_size=hidden, intermediate_size=hidden * 2,
            num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=kv_heads,
            max_position_embeddings=4096, tie_word_embeddings=False, **_token_ids(tok),
        ),
        vision_config=dict(model_type="siglip_vision_model", hidden_size=32, intermediate_size=64,
                           num_hidden_layers=2, num_attention_heads=2, image_size=84, patch_size=14),
        image_token_id=tok.convert_tokens_to_ids("<image>"),
        video_token_id=tok.convert_tokens_to_ids("<video>"),
        vision_feature_select_strategy="full", vision_feature_layer=-1,
        image_grid_pinpoints=[[84, 84]], tie_word_embeddings=False, **_token_ids(tok),
    )


def build_processor(family: str, tok):
    if family == "qwen2_5_vl":
        from transformers import Qwen2_5_VLProcessor, Qwen2VLImageProcessor, Qwen2VLVideoProcessor

        pixels = {"min_pixels": 112 * 112, "max_pixels": 112 * 140}
        return Qwen2_5_VLProcessor(
            image_processor=Qwen2VLImageProcessor(**pixels),
            video_processor=Qwen2VLVideoProcessor(**pixels),
            tokenizer=tok, chat_template=CHAT_TEMPLATES[family],
        )
    from transformers import (LlavaOnevisionImageProcessor, LlavaOnevisionProcessor,
                              LlavaOnevisionVideoProcessor)

    size = {"height": 84, "width": 84}
    return LlavaOnevisionProcessor(
        image_processor=LlavaOnevisionImageProcessor(size=size, image_grid_pinpoints=[[84, 84]]),
        video_processor=LlavaOnevisionVideoProcessor(size=size),
        tokenizer=tok, num_image_tokens=36, vision_feature_select_strategy="full",
        vision_aspect_ratio="anyres_max_1", chat_template=CHAT_TEMPLATES[family],
    )


# (hidden, layers, heads, kv_heads) of the tiny target; the draft keeps some of its layers.
TARGET_SHAPE = (64, 4, 4, 2)
DRAFT_LAYERS = (0, 3)


def build_model(family: str, tok, shape, seed: int, init_std: float = 0.35):
    """A randomly initialised model; `init_std` widens every weight matrix so outputs vary."""
    from transformers import LlavaOnevisionForConditionalGeneration, Qwen2_5_VLForConditionalGeneration

    make_config = _qwen_config if family == "qwen2_5_vl" else _llava_config
    model_class = (Qwen2_5_VLForConditionalGeneration if family == "qwen2_5_vl"
                   else LlavaOnevisionForConditionalGeneration)
    config = make_config(len(tok), *shape, tok)
    torch.manual_seed(seed)
    model = model_class(config).eval()
    with torch.no_grad():
        for name, param in model.named_parameters():
            if param.ndim >= 2:
                param.normal_(0.0, init_std / param.shape[-1] ** 0.5 * 4)
    model.generation_config.eos_token_id = [tok.eos_token_id, tok.pad_token_id]
    model.generation_config.pad_token_id = tok.pad_token_id
    model.generation_config.bos_token_id = None
    return model


def layer_subset(model, family: str, tok, layers: tuple[int, ...]):
    """A shallower model of the same family made of some of `model`'s decoder layers.

    Random weights give a random model's guesses nothing in common with another random
    model's; a layer-skipping draft (as in Draft & Verify) agrees with its target often
    enough that the tiny pair shows real speculation.
    """
    hidden, _, heads, kv_heads = TARGET_SHAPE
    draft = build_model(family, tok, (hidden, len(layers), heads, kv_heads), seed=0)
    source = model.state_dict()
    prefix = "model.language_model.layers."
    state = {}
    for key in draft.state_dict():
        if key.startswith(prefix):
            index, rest = key[len(prefix):].split(".", 1)
            state[key] = source[f"{prefix}{layers[int(index)]}.{rest}"]
        else:
            state[key] = source[key]
    draft.load_state_dict(state)
    return draft


def _quiet_layers(model, layers: list[int], scale: float = 0.15) -> None:
    """Shrink what the skipped layers add to the residual stream, so the draft (which
    lacks them) guesses the target's next token often, but not always."""
    with torch.no_grad():
        for i in layers:
            layer = model.model.language_model.layers[i]
            layer.self_attn.o_proj.weight.mul_(scale)
            layer.mlp.down_proj.weight.mul_(scale)


def make_tiny(out_dir: str | Path, family: str, seed: int = 0) -> tuple[Path, Path]:
    """Write `out_dir/target` and `out_dir/draft` for `family`; returns both paths."""
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; choose one of {', '.join(FAMILIES)}")
    out_dir = Path(out_dir)
    tok = build_tokenizer(family)
    processor = build_processor(family, tok)
    target = build_model(family, tok, TARGET_SHAPE, seed)
    _quiet_layers(target, [i for i in range(TARGET_SHAPE[1]) if i not in DRAFT_LAYERS])
    draft = layer_subset(target, family, tok, DRAFT_LAYERS)
    paths = []
    for name, model in (("target", target), ("draft", draft)):
        path = out_dir / name
        model.save_pretrained(path)
        processor.save_pretrained(path)
        (path / "specvlm_tiny.json").write_text(json.dumps({"family": family, "role": name, "seed": seed}))
        paths.append(path)
    return paths[0], paths[1]


def cached_tiny_pair(cache_dir: str | Path, family: str) -> tuple[Path, Path]:
    """The tiny pair under `cache_dir`, generated on first use (atomically, so concurrent
    starts never see half a checkpoint)."""
    import os
    import shutil
    import tempfile

    final = Path(cache_dir) / "tiny-v1" / family
    if not (final / "draft" / "specvlm_tiny.json").exists():
        final.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{family}-", dir=final.parent))
        make_tiny(staging, family)
        try:
            os.rename(staging, final)
        except OSError:  # another process won the race
            shutil.rmtree(staging, ignore_errors=True)
    return final / "target", final / "draft"
