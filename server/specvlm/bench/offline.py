"""`specvlm bench`: autoregressive vs naive vs SpecVLM decoding of the same prompts.

For every frame count each video is decoded by `ar` (the target alone: the reference and the
speed baseline), `naive` (speculation, the draft sees the whole video) and `specvlm` with each
pruning strategy and drop rate. One row per setting aggregates the videos: decode tokens/s,
speedup over `ar`, mean acceptance length, TTFT, prefill time, peak memory, kept video tokens,
and whether every output equals `ar`'s token for token (any difference is listed).

Decode time runs from the first token to the last, the draft's prefill included. Every run
decodes exactly --max-tokens tokens (EOS ignored) so that methods compare like for like.
With `--random-weights SHAPE` it times per-step costs at real model size instead
(see `random_weights`).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from tqdm import tqdm

from ..config import Settings
from ..decoding import DRAFT_POSITIONS, DecodingParams, GenerationStats, generate
from ..inputs import Prompt, VideoInput, build_inputs
from ..media.frames import decode_video
from ..media.synthetic import synthetic_frames
from ..models.loading import load_pair
from ..models.tiny import FAMILIES, cached_tiny_pair
from ..spec.tree import TREE_SHAPES
from . import random_weights
from .report import (Column, Panel, Series, cache_description, environment, fixed, markdown_table, plot_panels,
                     scaled, write_json)
from .timing import device_description, peak_memory_bytes, reset_peak_memory, synchronize

PRUNING_STRATEGIES = ("specvlm", "uniform", "random", "attention")  # "none" is the naive method
TINY_NOTE = ("Tiny random models: these figures check correctness and mechanics (lossless output, "
             "acceptance, pruning), not speed.")


# --- arguments -------------------------------------------------------------------------------
def int_list(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v.strip()]


def float_list(text: str) -> list[float]:
    return [float(v) for v in text.split(",") if v.strip()]


def strategy_list(text: str) -> list[str]:
    names = [v.strip() for v in text.split(",") if v.strip()]
    unknown = [n for n in names if n not in PRUNING_STRATEGIES]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown strategy {', '.join(unknown)}; "
                                         f"choose from {', '.join(PRUNING_STRATEGIES)}")
    return names


def frame_size(text: str) -> tuple[int, int]:
    height, width = text.lower().split("x")
    return int(height), int(width)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--target", help="target checkpoint (dir or hub id); default: the tiny random pair")
    parser.add_argument("--draft", help="draft checkpoint of the same family; without it only `ar` runs")
    parser.add_argument("--tiny-family", choices=FAMILIES, default="qwen2_5_vl",
                        help="family of the tiny pair used when no --target is given")
    parser.add_argument("--cache-dir", default=Settings.cache_dir, help="where the tiny pair is generated")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="auto", help="auto (bfloat16 on GPU), bfloat16, float16, float32")
    parser.add_argument("--videos", nargs="+", metavar="FILE",
                        help="video files, or `synthetic` (default: --num-videos synthetic videos)")
    parser.add_argument("--num-videos", type=int, default=2, help="synthetic videos per setting")
    parser.add_argument("--frame-size", type=frame_size, default=(360, 640), metavar="HxW",
                        help="synthetic frame size before the processor resizes it")
    parser.add_argument("--frames", type=int_list, default=[8, 32], help="frame counts, e.g. 8,32,64")
    parser.add_argument("--drop-rates", type=float_list, default=[0.5, 0.9], help="e.g. 0.5,0.9")
    parser.add_argument("--strategies", type=strategy_list, default=list(PRUNING_STRATEGIES),
                        help=f"pruning strategies of method specvlm, from {','.join(PRUNING_STRATEGIES)}")
    parser.add_argument("--max-tokens", type=int, default=128, help="tokens decoded per run")
    parser.add_argument("--tree", choices=tuple(TREE_SHAPES), default="tree")
    parser.add_argument("--draft-positions", choices=DRAFT_POSITIONS, default="original")
    parser.add_argument("--question", default="Describe what happens in the video.")
    parser.add_argument("--temperature", type=float, default=0.0,
                        help="> 0: sampled speculation (acceptance and speed; outputs cannot be compared to ar)")
    parser.add_argument("--top-p", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0, help="seed of sampling and of the random pruning strategy")
    parser.add_argument("--out", required=True, help="directory for results.json, results.md and plots")
    random_weights.add_arguments(parser.add_argument_group(
        "random weights", "time per-step costs of a real-size architecture with random weights"))


# --- one run -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Setting:
    method: str  # ar, naive or specvlm
    frames: int
    strategy: str | None = None  # pruning strategy; "none" for naive
    drop_rate: float | None = None  # 0 for naive: the draft sees every video token

    @property
    def label(self) -> str:
        if self.method == "specvlm":
            return f"specvlm/{self.strategy} drop {self.drop_rate:g}"
        return self.method

    def params(self, args, repetition_penalty: float = 1.0) -> DecodingParams:
        return DecodingParams(method=self.method, max_new_tokens=args.max_tokens, ignore_eos=True,
                              repetition_penalty=repetition_penalty,
                              drop_rate=self.drop_rate or 0.0, pruning=self.strategy or "specvlm",
                              tree=args.tree, draft_positions=args.draft_positions, seed=args.seed,
                              temperature=args.temperature, top_p=args.top_p)


def settings_for(frames: int, has_draft: bool, strategies: list[str], drop_rates: list[float]) -> list[Setting]:
    """`ar` first: it is every other setting's reference."""
    settings = [Setting("ar", frames)]
    if has_draft:
        settings.append(Setting("naive", frames, "none", 0.0))
        settings += [Setting("specvlm", frames, s, d) for s in strategies for d in drop_rates]
    return settings


@dataclass
class Measurement:
    video: str
    tokens: list[int]
    stats: GenerationStats
    ttft_s: float
    processing_s: float
    peak_memory_bytes: int | None


def measure(pair, inputs, params: DecodingParams, video: str, processing_s: float) -> Measurement:
    """One generation: its tokens, stats, time to the first token and peak device memory."""
    device = pair.target.device
    stats = GenerationStats(params.method)
    synchronize(device)
    reset_peak_memory(device)
    tokens: list[int] = []
    ttft = None
    start = time.perf_counter()
    for chunk in generate(pair, inputs, params, stats):
        if ttft is None:
            ttft = time.perf_counter() - start  # the token is a host int: the device is done
        tokens += chunk.token_ids
    synchronize(device)
    return Measurement(video, tokens, stats, ttft, processing_s, peak_memory_bytes(device))


# --- lossless check ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Mismatch:
    video: str
    index: int  # first position where the outputs differ
    expected: int | None  # `ar`'s token there (None: `ar`'s output ended first)
    got: int | None


def compare_tokens(reference: list[int], candidate: list[int], video: str = "") -> Mismatch | None:
    for index, (expected, got) in enumerate(zip(reference, candidate)):
        if expected != got:
            return Mismatch(video, index, expected, got)
    if len(reference) != len(candidate):
        index = min(len(reference), len(candidate))
        return Mismatch(video, index, reference[index] if index < len(reference) else None,
                        candidate[index] if index < len(candidate) else None)
    return None


# --- rows --------------------------------------------------------------------------------------
def _mean(values) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.fmean(values) if values else None


def summarize(setting: Setting, runs: list[Measurement], references: dict[str, list[int]], sampled: bool = False
              ) -> dict:
    """One row: the setting's runs over all videos, checked against `ar`'s tokens per video
    (not when `sampled`: equally distributed outputs differ token by token)."""
    decode_tokens = sum(len(r.tokens) - 1 for r in runs)
    decode_s = sum(r.stats.decode_s for r in runs)
    drafts = sum(r.stats.num_drafts for r in runs)
    emitted = sum(r.stats.num_accepted_tokens for r in runs) + drafts
    mismatches = [] if sampled else [m for r in runs if (m := compare_tokens(references[r.video], r.tokens, r.video))]
    speculative = setting.method != "ar"
    peaks = [r.peak_memory_bytes for r in runs if r.peak_memory_bytes is not None]
    return {
        "method": setting.method, "strategy": setting.strategy, "drop_rate": setting.drop_rate,
        "frames": setting.frames, "num_videos": len(runs),
        "video_tokens": _mean(r.stats.video_tokens for r in runs),
        "kept_video_tokens": _mean(r.stats.draft_video_tokens for r in runs) if speculative else None,
        "prompt_tokens": _mean(r.stats.prompt_tokens for r in runs),
        "completion_tokens": sum(len(r.tokens) for r in runs),
        "decode_s": decode_s,
        "decode_tokens_per_s": decode_tokens / decode_s if decode_s > 0 else None,
        "speedup": None,  # set by add_speedups once `ar` is known
        "mean_acceptance_length": emitted / drafts if drafts else None,
        "ttft_s": _mean(r.ttft_s for r in runs),
        "prefill_s": _mean(r.stats.prefill_s for r in runs),
        "draft_prefill_s": _mean(r.stats.draft_prefill_s for r in runs) if speculative else None,
        "processing_s": _mean(r.processing_s for r in runs),
        "peak_memory_bytes": max(peaks) if peaks else None,
        "matches_ar": None if sampled else not mismatches,
        "mismatches": [asdict(m) for m in mismatches],
    }


def add_speedups(rows: list[dict]) -> None:
    """Decode speedup over `ar` at the same frame count."""
    baseline = {r["frames"]: r["decode_tokens_per_s"] for r in rows if r["method"] == "ar"}
    for row in rows:
        base = baseline.get(row["frames"])
        if base and row["decode_tokens_per_s"]:
            row["speedup"] = row["decode_tokens_per_s"] / base


COLUMNS = [
    Column("method", "method"), Column("pruning", "strategy"), Column("frames", "frames"),
    Column("drop", "drop_rate", fixed(2)), Column("video tok", "video_tokens", fixed(0)),
    Column("kept", "kept_video_tokens", fixed(0)), Column("tok/s", "decode_tokens_per_s", fixed(1)),
    Column("speedup", "speedup", fixed(2)), Column("accept len", "mean_acceptance_length", fixed(2)),
    Column("TTFT ms", "ttft_s", scaled(1e3, 1)), Column("prefill ms", "prefill_s", scaled(1e3, 1)),
    Column("peak GiB", "peak_memory_bytes", scaled(2 ** -30, 2)),
    Column("= ar", "matches_ar", lambda ok: "yes" if ok else "**NO**"),  # None (sampled): not compared
]


def markdown(rows: list[dict], meta: dict) -> str:
    lines = ["# specvlm bench", ""]
    if meta.get("note"):
        lines += [f"> {meta['note']}", ""]
    lines += [f"- {key}: `{meta[key]}`" for key in ("device", "dtype", "target", "draft", "kv_cache", "command")]
    if meta.get("temperature"):
        lines += [f"- sampled at temperature {meta['temperature']:g}, top-p {meta['top_p']:g}, seed {meta['seed']}: "
                  "outputs are not compared with `ar` token by token"]
    if meta.get("repetition_penalty", 1.0) != 1.0:
        lines += [f"- repetition penalty {meta['repetition_penalty']:g} (the checkpoint's generation_config)"]
    lines += [f"- {meta['max_tokens']} tokens per run (EOS ignored), tree `{meta['tree']}`, "
              f"draft positions `{meta['draft_positions']}`, videos: {', '.join(meta['videos'])}",
              "- tok/s and speedup: decode phase (first token to last, draft prefill included); "
              "accept len: tokens per verification step, bonus token included", "",
              markdown_table(COLUMNS, rows), ""]
    mismatches = [(r, m) for r in rows for m in r["mismatches"]]
    if mismatches:
        lines += ["## Outputs that differ from `ar`", ""]
        lines += [f"- {_label(r)}, frames {r['frames']}, video {m['video']}: first difference at token "
                  f"{m['index']} (ar {m['expected']}, got {m['got']})" for r, m in mismatches]
        lines.append("")
    lines += ["![speedup and acceptance vs frames](vs_frames.png)",
              "![speedup and acceptance vs drop rate](vs_drop_rate.png)", ""]
    return "\n".join(lines)


def _label(row: dict) -> str:
    return Setting(row["method"], row["frames"], row["strategy"], row["drop_rate"]).label


def _series(groups: dict[str, list[dict]], x_key: str, y_key: str) -> list[Series]:
    series = []
    for label, rows in groups.items():
        points = [(r[x_key], r[y_key]) for r in rows if r[y_key] is not None]
        if points:
            series.append(Series(label, [x for x, _ in points], [y for _, y in points]))
    return series


def plot(rows: list[dict], out: Path) -> None:
    speculative = [r for r in rows if r["method"] != "ar"]
    by_label: dict[str, list[dict]] = {}
    for row in sorted(speculative, key=lambda r: r["frames"]):
        by_label.setdefault(_label(row), []).append(row)
    # Drop rate 0 keeps every video token: that is the naive method, for every strategy.
    strategies = sorted({r["strategy"] for r in speculative if r["method"] == "specvlm"})
    by_strategy: dict[str, list[dict]] = {}
    for row in sorted(speculative, key=lambda r: (r["frames"], r["drop_rate"])):
        for strategy in [row["strategy"]] if row["method"] == "specvlm" else strategies:
            by_strategy.setdefault(f"{strategy}, {row['frames']} frames", []).append(row)
    for name, xlabel, x_key, groups in (("vs_frames.png", "frames", "frames", by_label),
                                        ("vs_drop_rate.png", "drop rate (0 = naive)", "drop_rate", by_strategy)):
        plot_panels(out / name, xlabel, [
            Panel("decode speedup over ar", "speedup", _series(groups, x_key, "speedup")),
            Panel("mean acceptance length", "tokens per step", _series(groups, x_key, "mean_acceptance_length")),
        ])


# --- inputs ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class VideoSource:
    name: str
    path: Path | None = None  # None: synthetic
    seed: int = 0

    def load(self, frames: int, size: tuple[int, int]) -> VideoInput:
        if self.path is None:
            return VideoInput(synthetic_frames(self.seed, frames, *size))
        return decode_video(self.path.read_bytes(), num_frames=frames, max_frames=frames)


def video_sources(args) -> list[VideoSource]:
    if not args.videos or args.videos == ["synthetic"]:
        return [VideoSource(f"synthetic-{seed}", seed=seed) for seed in range(args.num_videos)]
    return [VideoSource(p, Path(p)) for p in args.videos]


def prompt_for(video: VideoInput, question: str) -> Prompt:
    return Prompt([{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": question}]}],
                  videos=[video])


def resolve_checkpoints(args) -> tuple[str, str | None]:
    if args.target:
        return args.target, args.draft
    target, draft = cached_tiny_pair(args.cache_dir, args.tiny_family)
    return str(target), str(draft)


def is_tiny(checkpoint: str) -> bool:
    return (Path(checkpoint) / "specvlm_tiny.json").exists()


# --- command -----------------------------------------------------------------------------------
def run(args) -> int:
    if args.random_weights:
        return random_weights.run(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    target, draft = resolve_checkpoints(args)
    tiny = is_tiny(target)
    if tiny:
        print(TINY_NOTE, file=sys.stderr)
    pair = load_pair(target, draft, device=args.device, dtype=args.dtype)
    sources = video_sources(args)
    plans = {frames: settings_for(frames, pair.draft is not None, args.strategies, args.drop_rates)
             for frames in args.frames}
    _warm_up(pair, sources[0], min(args.frames), args)

    runs: dict[Setting, list[Measurement]] = {}
    references: dict[int, dict[str, list[int]]] = {}
    progress = tqdm(total=sum(len(p) for p in plans.values()) * len(sources), desc="bench", unit="run",
                    file=sys.stderr)
    for frames, settings in plans.items():
        for source in sources:
            start = time.perf_counter()
            inputs = build_inputs(pair.processor, prompt_for(source.load(frames, args.frame_size), args.question))
            processing_s = time.perf_counter() - start
            for setting in settings:
                progress.set_postfix_str(f"{frames} frames, {source.name}, {setting.label}")
                measured = measure(pair, inputs, setting.params(args, pair.default_repetition_penalty), source.name,
                                   processing_s)
                runs.setdefault(setting, []).append(measured)
                if setting.method == "ar":
                    references.setdefault(frames, {})[source.name] = measured.tokens
                progress.update()
    progress.close()

    sampled = args.temperature > 0
    rows = [summarize(setting, measured, references[setting.frames], sampled) for setting, measured in runs.items()]
    add_speedups(rows)
    meta = {
        "device": device_description(pair.target.device), "dtype": str(pair.target.dtype).removeprefix("torch."),
        "target": target, "draft": draft, "tiny": tiny, "note": TINY_NOTE if tiny else None,
        "kv_cache": cache_description(pair.target.new_cache()), "max_tokens": args.max_tokens,
        "tree": args.tree, "draft_positions": args.draft_positions, "question": args.question,
        "temperature": args.temperature, "top_p": args.top_p, "seed": args.seed,
        "repetition_penalty": pair.default_repetition_penalty,
        "videos": [s.name for s in sources], **environment(),
    }
    write_json(out / "results.json", rows, meta)
    (out / "results.md").write_text(markdown(rows, meta))
    plot(rows, out)
    print(markdown_table(COLUMNS, rows))
    print(f"\nwrote {out / 'results.json'}, {out / 'results.md'}, {out / 'vs_frames.png'}, {out / 'vs_drop_rate.png'}")
    failed = [r for r in rows if r["matches_ar"] is False]
    if failed:
        print(f"LOSSLESS CHECK FAILED: {len(failed)} setting(s) differ from ar (see results.md)", file=sys.stderr)
        return 1
    return 0


def _warm_up(pair, source: VideoSource, frames: int, args) -> None:
    """One short untimed run per method: first calls pay for kernel selection and allocator growth."""
    inputs = build_inputs(pair.processor, prompt_for(source.load(frames, args.frame_size), args.question))
    for method in ("ar", "specvlm") if pair.draft is not None else ("ar",):
        for _ in generate(pair, inputs, DecodingParams(method=method, max_new_tokens=4, ignore_eos=True)):
            pass
