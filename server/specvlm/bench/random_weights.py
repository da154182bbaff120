"""`specvlm bench --random-weights SHAPE`: per-step costs of a real-size model with random weights.

A memory-bound decode step costs what its shape makes it read, whatever the weights hold. This
builds the language model of a real checkpoint (random weights, made directly on the device, a
token-sized vision tower), fills the engine's own KV cache to each video length with random keys
and values, and times the steps of the engine's decode loops:

- target decode step: one token, as the `ar` loop runs it;
- target verify: the whole draft tree in one pass (`decoding._verify`: tree mask, forward,
  greedy acceptance, KV compaction);
- draft step (one token) and draft tree expansion (`decoding._draft_tree`, one forward per
  level) with the pruned and with the full video in the draft's cache;
- target prefill of the whole prompt (video and text), and what is left of it when the prefix
  cache holds the video part (`--prefix-cache-gb`): restoring that copy, then the text.

The decode step is compared with the HBM roofline: the bytes it must read (weights plus KV cache)
over the bandwidth of a large device copy. Random weights accept nothing, so speedups are
projected for a given mean acceptance length:  acceptance * decode step / (draft tree + verify).
"""

from __future__ import annotations

import gc
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from ..decoding import DecodingParams, _draft_tree, _DraftTree, _SpecState, _verify, tree_for
from ..models.adapter import ModelAdapter
from ..models.attention import ATTENTION_IMPLEMENTATION
from ..models.loading import resolve_device, resolve_dtype
from ..models.prefix_cache import PrefixCache
from ..spec.pruning import keep_budget
from .report import (Column, Panel, Series, cache_description, environment, fixed, markdown_table, plot_panels,
                     write_json)
from .timing import device_description, measure_bandwidth, median_seconds


@dataclass(frozen=True)
class TextShape:
    """The language model of a checkpoint, as its config.json gives it."""
    family: str  # qwen2_5_vl or llava_onevision
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    intermediate: int
    vocab: int
    tie_embeddings: bool = False
    draft: str | None = None  # the usual draft's shape name

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads

    def describe(self) -> str:
        return (f"{self.family}, hidden {self.hidden}, {self.layers} layers, {self.heads} heads ({self.kv_heads} kv), "
                f"intermediate {self.intermediate}, vocab {self.vocab}")


# LLaVA-OneVision's language models are Qwen2-0.5B/7B/72B.
SHAPES = {
    "qwen2_5_vl_3b": TextShape("qwen2_5_vl", 2048, 36, 16, 2, 11008, 151936, tie_embeddings=True),
    "qwen2_5_vl_7b": TextShape("qwen2_5_vl", 3584, 28, 28, 4, 18944, 152064, draft="qwen2_5_vl_3b"),
    "qwen2_5_vl_32b": TextShape("qwen2_5_vl", 5120, 64, 40, 8, 27648, 152064, draft="qwen2_5_vl_7b"),
    "qwen2_5_vl_72b": TextShape("qwen2_5_vl", 8192, 80, 64, 8, 29568, 152064, draft="qwen2_5_vl_7b"),
    "llava_ov_0.5b": TextShape("llava_onevision", 896, 24, 14, 2, 4864, 151936, tie_embeddings=True),
    "llava_ov_7b": TextShape("llava_onevision", 3584, 28, 28, 4, 18944, 152128, draft="llava_ov_0.5b"),
    "llava_ov_72b": TextShape("llava_onevision", 8192, 80, 64, 8, 29568, 152128, draft="llava_ov_7b"),
    # seconds on a CPU: the same code path, for tests
    "tiny": TextShape("qwen2_5_vl", 64, 2, 4, 2, 128, 512, draft="tiny"),
    "tiny_llava": TextShape("llava_onevision", 64, 2, 4, 2, 128, 512, draft="tiny_llava"),
}


def _int_list(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v.strip()]


def add_arguments(group) -> None:
    group.add_argument("--random-weights", choices=tuple(SHAPES), metavar="SHAPE",
                       help=f"time per-step costs of this architecture instead: {', '.join(SHAPES)}")
    group.add_argument("--random-draft", choices=(*SHAPES, "none"), metavar="SHAPE",
                       help="draft architecture (default: the usual draft of SHAPE; none: target only)")
    group.add_argument("--video-tokens", type=_int_list, default=[4096, 8192, 16384, 32768],
                       help="video lengths in tokens, e.g. 4096,32768")
    group.add_argument("--text-tokens", type=int, default=64, help="prompt text after the video")
    group.add_argument("--acceptance-length", type=float, default=3.9,
                       help="mean accepted tokens per step (bonus included) to project speedups with")
    group.add_argument("--repeats", type=int, default=10, help="timed repetitions per step (median)")


# --- building ----------------------------------------------------------------------------------
def _mrope_section(head_dim: int) -> list[int]:
    """Qwen2.5-VL's split of the rotary half-dimension into time, height and width (16, 24, 24 at 128)."""
    half = head_dim // 2
    time_part = half // 4
    height = (half - time_part) // 2
    return [time_part, height, half - time_part - height]


def model_config(shape: TextShape):
    from transformers import LlavaOnevisionConfig, Qwen2_5_VLConfig

    rope = {"rope_type": "default", "rope_theta": 1_000_000.0}
    text = dict(vocab_size=shape.vocab, hidden_size=shape.hidden, intermediate_size=shape.intermediate,
                num_hidden_layers=shape.layers, num_attention_heads=shape.heads,
                num_key_value_heads=shape.kv_heads, max_position_embeddings=131072,
                tie_word_embeddings=shape.tie_embeddings, bos_token_id=None, eos_token_id=None, pad_token_id=None)
    # Placeholder ids inside the vocabulary; the vision towers are token-sized: only text steps are timed.
    common = dict(image_token_id=shape.vocab - 2, video_token_id=shape.vocab - 1,
                  tie_word_embeddings=shape.tie_embeddings)
    if shape.family == "qwen2_5_vl":
        return Qwen2_5_VLConfig(
            text_config={**text, "rope_parameters": {**rope, "mrope_section": _mrope_section(shape.head_dim)}},
            vision_config=dict(depth=1, hidden_size=16, intermediate_size=32, num_heads=1,
                               out_hidden_size=shape.hidden),
            vision_start_token_id=shape.vocab - 4, vision_end_token_id=shape.vocab - 3, **common)
    return LlavaOnevisionConfig(
        text_config={**text, "model_type": "qwen2", "rope_parameters": rope},
        vision_config=dict(model_type="siglip_vision_model", hidden_size=16, intermediate_size=32,
                           num_hidden_layers=1, num_attention_heads=1, image_size=28, patch_size=14),
        **common)


def _model_class(family: str):
    from transformers import LlavaOnevisionForConditionalGeneration, Qwen2_5_VLForConditionalGeneration

    return Qwen2_5_VLForConditionalGeneration if family == "qwen2_5_vl" else LlavaOnevisionForConditionalGeneration


def parameter_bytes(shape: TextShape, dtype: torch.dtype) -> int:
    """Exact size of the weights, from a model built on the meta device (nothing allocated)."""
    with torch.device("meta"):
        model = _model_class(shape.family)._from_config(model_config(shape), dtype=dtype)
    return sum(p.numel() * p.element_size() for p in model.parameters())


def build_random(shape: TextShape, device: torch.device, dtype: torch.dtype) -> ModelAdapter:
    """The model with random weights, allocated and initialised on `device` only."""
    with torch.device(device):
        model = _model_class(shape.family)._from_config(model_config(shape), dtype=dtype,
                                                        attn_implementation=ATTENTION_IMPLEMENTATION)
    return ModelAdapter(model.eval(), shape.family, shape.vocab)


def kv_bytes_per_token(shape: TextShape, dtype: torch.dtype) -> int:
    return shape.layers * 2 * shape.kv_heads * shape.head_dim * dtype.itemsize


def decode_bytes(adapter: ModelAdapter, shape: TextShape, context: int) -> int:
    """What one decode step must read from memory: every weight but the embedding table (one row
    of it), the output head, and the whole KV cache."""
    language_model = adapter.model.model.language_model
    weights = sum(p.numel() * p.element_size() for name, p in language_model.named_parameters()
                  if not name.startswith("embed_tokens"))
    head = adapter.model.lm_head.weight
    return weights + head.numel() * head.element_size() + context * kv_bytes_per_token(shape, adapter.dtype)


@torch.inference_mode()
def filled_cache(adapter: ModelAdapter, shape: TextShape, length: int):
    """The engine's KV cache holding `length` tokens of random keys and values."""
    cache = adapter.new_cache()
    size = (1, shape.kv_heads, length, shape.head_dim)
    for layer in cache.layers:
        layer.update(torch.randn(size, device=adapter.device, dtype=adapter.dtype),
                     torch.randn(size, device=adapter.device, dtype=adapter.dtype))
    return cache


def _free(device: torch.device) -> None:
    """Give freed GPU memory back before the next, larger allocation (not needed on CPU)."""
    if device.type == "cuda":
        gc.collect()
        torch.cuda.empty_cache()


def _fits(device: torch.device, nbytes: int) -> bool:
    """Whether `nbytes` more fit on the GPU, keeping room for activations; CPUs are not checked."""
    if device.type != "cuda":
        return True
    free, _ = torch.cuda.mem_get_info(device)
    return nbytes < free * 0.95 - (2 << 30)


def _cache_bytes(shape: TextShape, dtype: torch.dtype, length: int) -> int:
    """The engine's growable cache keeps spare room: max(512, length / 8) tokens."""
    return (length + max(512, length // 8)) * kv_bytes_per_token(shape, dtype)


# --- timing the engine's steps -----------------------------------------------------------------
def time_decode_step(adapter: ModelAdapter, cache, repeats: int) -> float:
    """One token through the model and its greedy pick, as the `ar` loop does it."""
    position = cache.get_seq_length()

    def step():
        nonlocal position
        logits = adapter.forward(cache, adapter.text_positions(torch.tensor([position])),
                                 token_ids=torch.tensor([1]))
        int(logits[-1].argmax())
        position += 1

    return median_seconds(step, adapter.device, repeats)


def time_prefills(target: ModelAdapter, shape: TextShape, video: int, text: int, repeats: int
                  ) -> tuple[float, float]:
    """Seconds to the first token's logits for a prompt of `video` then `text` tokens: on a
    prefix-cache miss (prefill the video part, store a copy of it, prefill the text) and on a
    hit (restore the copy, prefill the text). Prefill cost does not depend on the embeddings'
    values, so random ones stand in for the video's and the text's."""
    embeds = torch.randn(1, video + text, shape.hidden, device=target.device, dtype=target.dtype)
    positions = target.text_positions(torch.arange(video + text))

    def text_after(cache):
        return target.forward(cache, positions[:, video:], embeds=embeds[:, video:], last_only=True)

    def miss(prefixes: PrefixCache):
        cache = target.new_cache()
        target.forward(cache, positions[:, :video], embeds=embeds[:, :video], last_only=True)
        prefixes.store("video", cache, video)
        return text_after(cache)

    miss_s = median_seconds(lambda: miss(PrefixCache(max_bytes=1 << 62)), target.device, repeats, warmup=1)
    stored = PrefixCache(max_bytes=1 << 62)
    miss(stored)
    hit_s = median_seconds(lambda: text_after(stored.restore("video", target.text_config).cache), target.device,
                           repeats, warmup=1)
    return miss_s, hit_s


def _prefill_bytes(shape: TextShape, dtype: torch.dtype, context: int) -> int:
    """Timing prefills holds three caches (the request's, the stored copy, a restored copy) and
    one forward's activations over the whole context (the MLP's dominate)."""
    return 3 * _cache_bytes(shape, dtype, context) + context * (3 * shape.intermediate + 4 * shape.hidden) * dtype.itemsize


def time_verify(target: ModelAdapter, cache, tree, repeats: int) -> float:
    length = cache.get_seq_length()
    state = _SpecState(committed_root=1, target_position=length, target_cached=length, draft_pending=[],
                       draft_position=0)
    tokens = torch.randint(target.vocab_limit, (tree.num_nodes,), device=target.device)
    return median_seconds(lambda: _verify(target, cache, tree, _DraftTree(tokens), state), target.device, repeats)


def time_draft_tree(draft: ModelAdapter, cache, tree, pending: int, repeats: int) -> float:
    """The draft's share of one speculative step: it first reads the `pending` tokens the last
    verification committed, then expands the tree level by level."""
    state = _SpecState(committed_root=1, target_position=0, target_cached=0, draft_pending=[],
                       draft_position=cache.get_seq_length())

    def expand():
        state.draft_pending = [1] * pending
        _draft_tree(draft, cache, tree, state)

    return median_seconds(expand, draft.device, repeats)


# --- the run -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Plan:
    target: str
    draft: str | None
    video_tokens: list[int]
    text_tokens: int
    drop_rates: list[float]
    acceptance_length: float
    tree: str
    repeats: int

    def kept(self, video: int, drop_rate: float) -> int:
        return keep_budget(video, drop_rate)

    def draft_contexts(self) -> list[int]:
        """Context lengths the draft is timed at: each video in full and pruned at each drop rate."""
        return sorted({v + self.text_tokens for v in self.video_tokens}
                      | {self.kept(v, d) + self.text_tokens for v in self.video_tokens for d in self.drop_rates})


def measure_target(plan: Plan, device, dtype, progress) -> tuple[dict[int, dict], str | None]:
    """Per video length: decode step and tree verify seconds, decode bytes; or why it was skipped."""
    shape = SHAPES[plan.target]
    if not _fits(device, parameter_bytes(shape, dtype)):
        progress.update(len(plan.video_tokens))
        return {}, f"{plan.target} weights do not fit on {device_description(device)}"
    target = build_random(shape, device, dtype)
    tree = tree_for(DecodingParams(tree=plan.tree), device)
    results = {}
    for video in plan.video_tokens:
        context = video + plan.text_tokens
        progress.set_postfix_str(f"target {plan.target}, {video} video tokens")
        if _fits(device, _cache_bytes(shape, dtype, context + 8 * (plan.repeats + 2))):
            cache = filled_cache(target, shape, context)
            results[video] = {"decode_s": time_decode_step(target, cache, plan.repeats),
                              "verify_s": time_verify(target, cache, tree, plan.repeats),
                              "decode_bytes": decode_bytes(target, shape, context)}
            del cache
            _free(device)
            if _fits(device, _prefill_bytes(shape, dtype, context)):
                prefill_repeats = max(1, plan.repeats // 5)  # whole prompts: seconds each at real sizes
                results[video]["prefill_s"], results[video]["cached_prefill_s"] = time_prefills(
                    target, shape, video, plan.text_tokens, prefill_repeats)
                _free(device)
        progress.update()
    del target
    _free(device)
    return results, None


def measure_draft(plan: Plan, device, dtype, progress) -> tuple[dict[int, dict], str | None]:
    """Per context length the draft sees (full or pruned video): one-token step and tree expansion."""
    if plan.draft is None:
        return {}, None
    lengths = plan.draft_contexts()
    shape = SHAPES[plan.draft]
    if not _fits(device, parameter_bytes(shape, dtype)):
        progress.update(len(lengths))
        return {}, f"{plan.draft} weights do not fit on {device_description(device)}"
    draft = build_random(shape, device, dtype)
    tree = tree_for(DecodingParams(tree=plan.tree), device)
    pending = max(1, round(plan.acceptance_length))
    results = {}
    for context in lengths:
        progress.set_postfix_str(f"draft {plan.draft}, {context} context tokens")
        if _fits(device, _cache_bytes(shape, dtype, context + (pending + 1) * (plan.repeats + 4))):
            cache = filled_cache(draft, shape, context)
            results[context] = {"step_s": time_decode_step(draft, cache, plan.repeats),
                                "tree_s": time_draft_tree(draft, cache, tree, pending, plan.repeats)}
            del cache
            _free(device)
        progress.update()
    del draft
    _free(device)
    return results, None


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1e3


def build_rows(plan: Plan, target: dict[int, dict], draft: dict[int, dict], bandwidth: float) -> list[dict]:
    rows = []
    for video in plan.video_tokens:
        t = target.get(video, {})
        full = draft.get(video + plan.text_tokens, {})
        for drop_rate in plan.drop_rates:
            kept = plan.kept(video, drop_rate)
            pruned = draft.get(kept + plan.text_tokens, {})
            row = {
                "target_shape": plan.target, "draft_shape": plan.draft, "video_tokens": video,
                "context_tokens": video + plan.text_tokens, "drop_rate": drop_rate, "kept_video_tokens": kept,
                "target_decode_ms": _ms(t.get("decode_s")), "target_verify_ms": _ms(t.get("verify_s")),
                "target_decode_bytes": t.get("decode_bytes"), "target_roofline_pct": None,
                "target_prefill_ms": _ms(t.get("prefill_s")), "target_cached_prefill_ms": _ms(t.get("cached_prefill_s")),
                "draft_step_full_ms": _ms(full.get("step_s")), "draft_step_pruned_ms": _ms(pruned.get("step_s")),
                "draft_tree_full_ms": _ms(full.get("tree_s")), "draft_tree_pruned_ms": _ms(pruned.get("tree_s")),
                "acceptance_length": plan.acceptance_length,
                "projected_speedup_naive": _projection(plan, t, full),
                "projected_speedup_specvlm": _projection(plan, t, pruned),
            }
            if t:
                row["target_roofline_pct"] = 100 * t["decode_bytes"] / bandwidth / t["decode_s"]
            rows.append(row)
    return rows


def _projection(plan: Plan, target: dict, draft: dict) -> float | None:
    """Tokens per step times the AR cost of a token, over what one speculative step costs."""
    if not target or not draft:
        return None
    return plan.acceptance_length * target["decode_s"] / (draft["tree_s"] + target["verify_s"])


COLUMNS = [
    Column("video tok", "video_tokens"), Column("drop", "drop_rate", fixed(2)), Column("kept", "kept_video_tokens"),
    Column("target step ms", "target_decode_ms", fixed(2)), Column("roofline %", "target_roofline_pct", fixed(0)),
    Column("verify ms", "target_verify_ms", fixed(2)),
    Column("prefill ms", "target_prefill_ms", fixed(1)), Column("cached prefill ms", "target_cached_prefill_ms", fixed(1)),
    Column("draft step full/pruned ms", "draft_steps", str), Column("draft tree full/pruned ms", "draft_trees", str),
    Column("proj. naive", "projected_speedup_naive", fixed(2)),
    Column("proj. specvlm", "projected_speedup_specvlm", fixed(2)),
]


def _table_rows(rows: list[dict]) -> list[dict]:
    def pair(full, pruned):
        return None if full is None and pruned is None else \
            "/".join("–" if v is None else f"{v:.2f}" for v in (full, pruned))
    return [{**r, "draft_steps": pair(r["draft_step_full_ms"], r["draft_step_pruned_ms"]),
             "draft_trees": pair(r["draft_tree_full_ms"], r["draft_tree_pruned_ms"])} for r in rows]


def markdown(rows: list[dict], meta: dict) -> str:
    lines = [f"# specvlm bench --random-weights {meta['target_shape']['name']}", "",
             f"> {meta['note']}", ""]
    lines += [f"- {key}: `{meta[key]}`" for key in ("device", "dtype", "kv_cache", "command")]
    draft = meta["draft_shape"]
    lines += [f"- measured copy bandwidth: {meta['bandwidth_GBps']:.0f} GB/s; tree `{meta['tree']}` "
              f"({meta['tree_draft_nodes']} draft nodes + root); {meta['text_tokens']} text tokens after the video",
              f"- target {meta['target_shape']['name']}: {meta['target_shape']['description']}",
              f"- draft {draft['name']}: {draft['description']}" if draft else "- no draft"]
    lines += [f"- skipped: {reason}" for reason in meta["skipped"]]
    lines += ["", markdown_table(COLUMNS, _table_rows(rows)), "",
              "![step costs](step_costs.png)", "![projected speedup](projected_speedup.png)", ""]
    return "\n".join(lines)


def plot(rows: list[dict], out: Path, plan: Plan) -> None:
    def series(label, key, keep=lambda r: True):
        points = [(r["video_tokens"], r[key]) for r in rows if keep(r) and r[key] is not None]
        return Series(label, [x for x, _ in points], [y for _, y in points])

    first_drop = lambda r: r["drop_rate"] == plan.drop_rates[0]  # noqa: E731  (target costs repeat per drop rate)
    steps = [series("target decode step", "target_decode_ms", first_drop),
             series("target verify (tree)", "target_verify_ms", first_drop),
             series("draft tree, full video", "draft_tree_full_ms", first_drop)]
    steps += [series(f"draft tree, drop {d:g}", "draft_tree_pruned_ms", lambda r, d=d: r["drop_rate"] == d)
              for d in plan.drop_rates]
    plot_panels(out / "step_costs.png", "video tokens", [
        Panel("per-step cost", "ms", [s for s in steps if s.x]),
        Panel("target decode step vs HBM roofline", "% of roofline",
              [s for s in [series("decode step", "target_roofline_pct", first_drop)] if s.x]),
    ], log_x=True)
    speedups = [series("naive (full video)", "projected_speedup_naive", first_drop)]
    speedups += [series(f"specvlm drop {d:g}", "projected_speedup_specvlm", lambda r, d=d: r["drop_rate"] == d)
                 for d in plan.drop_rates]
    plot_panels(out / "projected_speedup.png", "video tokens", [
        Panel(f"projected speedup at acceptance length {plan.acceptance_length:g}", "speedup over ar",
              [s for s in speedups if s.x]),
    ], log_x=True)


def run(args) -> int:
    shape = SHAPES[args.random_weights]
    draft_name = shape.draft if args.random_draft is None else args.random_draft
    draft_name = None if draft_name == "none" else draft_name
    if draft_name is not None and SHAPES[draft_name].family != shape.family:
        raise SystemExit(f"draft shape {draft_name} is not of the {shape.family} family")
    device = resolve_device(args.device)
    dtype = torch.bfloat16 if args.dtype in (None, "auto") else resolve_dtype(args.dtype, device)
    plan = Plan(args.random_weights, draft_name, args.video_tokens, args.text_tokens, args.drop_rates,
                args.acceptance_length, args.tree, args.repeats)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    bandwidth = measure_bandwidth(device)
    _free(device)
    draft_lengths = 0 if draft_name is None else len(plan.draft_contexts())
    progress = tqdm(total=len(plan.video_tokens) + draft_lengths, desc="bench --random-weights", unit="length",
                    file=sys.stderr)
    target, target_skipped = measure_target(plan, device, dtype, progress)
    draft, draft_skipped = measure_draft(plan, device, dtype, progress)
    progress.close()

    rows = build_rows(plan, target, draft, bandwidth)
    skipped = [reason for reason in (target_skipped, draft_skipped) if reason]
    skipped += [f"{v} video tokens: target KV cache does not fit" for v in plan.video_tokens
                if not target_skipped and v not in target]
    meta = {
        "mode": "random-weights", "device": device_description(device), "dtype": str(dtype).removeprefix("torch."),
        "target_shape": {"name": plan.target, **asdict(shape), "description": shape.describe()},
        "draft_shape": None if draft_name is None else {"name": draft_name, **asdict(SHAPES[draft_name]),
                                                        "description": SHAPES[draft_name].describe()},
        "kv_cache": _cache_kind(shape, device, dtype), "bandwidth_GBps": bandwidth / 1e9,
        "tree": plan.tree, "tree_draft_nodes": tree_for(DecodingParams(tree=plan.tree), device).num_nodes - 1,
        "text_tokens": plan.text_tokens, "repeats": plan.repeats, "skipped": skipped,
        "note": (f"Random weights at real size: step costs only, acceptance is not measured. Speedups are "
                 f"projected for a mean acceptance length of {plan.acceptance_length:g}: "
                 "acceptance x target decode step / (draft tree + target verify)."),
        **environment(),
    }
    write_json(out / "results.json", rows, meta)
    (out / "results.md").write_text(markdown(rows, meta))
    plot(rows, out, plan)
    print(markdown_table(COLUMNS, _table_rows(rows)))
    for reason in skipped:
        print(f"skipped: {reason}", file=sys.stderr)
    print(f"\nwrote {out / 'results.json'}, {out / 'results.md'}, {out / 'step_costs.png'}, "
          f"{out / 'projected_speedup.png'}")
    return 0


def _cache_kind(shape: TextShape, device, dtype) -> str:
    """The cache class the engine builds for this shape (built on the meta device: no memory)."""
    with torch.device("meta"):
        config = model_config(shape)
    from ..models.kv import new_cache

    return cache_description(new_cache(config.get_text_config()))
