"""`specvlm bench` on the tiny pairs (CPU): results.json shape, markdown, plots, the lossless check."""

import argparse
import json

import pytest

from specvlm.bench import offline
from specvlm.decoding import GenerationStats

ROW_KEYS = {"method", "strategy", "drop_rate", "frames", "num_videos", "video_tokens", "kept_video_tokens",
            "prompt_tokens", "completion_tokens", "decode_s", "decode_tokens_per_s", "speedup",
            "mean_acceptance_length", "ttft_s", "prefill_s", "draft_prefill_s", "processing_s",
            "peak_memory_bytes", "matches_ar", "mismatches"}


def bench_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    offline.add_arguments(parser)
    return parser.parse_args(list(argv))


def tiny_args(tiny_dirs, family, out, *extra):
    target, draft = tiny_dirs[family]
    return bench_args("--target", str(target), "--draft", str(draft), "--device", "cpu", "--num-videos", "1",
                      "--max-tokens", "8", "--drop-rates", "0.9", "--out", str(out), *extra)


@pytest.mark.parametrize("family", ["qwen2_5_vl", "llava_onevision"])
def test_cpu_run_writes_rows_markdown_and_plots(tiny_dirs, tmp_path, family):
    args = tiny_args(tiny_dirs, family, tmp_path, "--frames", "4,8", "--strategies", "specvlm,uniform")
    assert offline.run(args) == 0

    result = json.loads((tmp_path / "results.json").read_text())
    rows = result["rows"]
    assert [(r["method"], r["strategy"], r["frames"]) for r in rows] == [
        (method, strategy, frames) for frames in (4, 8)
        for method, strategy in (("ar", None), ("naive", "none"), ("specvlm", "specvlm"), ("specvlm", "uniform"))]
    for row in rows:
        assert set(row) == ROW_KEYS
        assert row["matches_ar"] and row["mismatches"] == []
        assert row["completion_tokens"] == 8 and row["num_videos"] == 1
        assert row["peak_memory_bytes"] is None  # CPU: no device allocator to ask
        assert row["decode_tokens_per_s"] > 0 and row["speedup"] > 0
    ar = [r for r in rows if r["method"] == "ar"]
    assert all(r["speedup"] == pytest.approx(1.0) and r["mean_acceptance_length"] is None for r in ar)
    assert ar[1]["video_tokens"] > ar[0]["video_tokens"]
    for row in rows:
        if row["method"] == "naive":
            assert row["kept_video_tokens"] == row["video_tokens"]
        if row["method"] == "specvlm":
            assert 0 < row["kept_video_tokens"] < row["video_tokens"]
        if row["method"] != "ar":
            assert row["mean_acceptance_length"] >= 1.0

    meta = result["meta"]
    assert meta["tiny"] and meta["note"] == offline.TINY_NOTE
    assert meta["kv_cache"] == "DynamicCache of GrowableLayer"
    markdown = (tmp_path / "results.md").read_text()
    assert offline.TINY_NOTE in markdown
    assert markdown.count("\n| specvlm |") == 4 and "**NO**" not in markdown
    for plot in ("vs_frames.png", "vs_drop_rate.png"):
        assert (tmp_path / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_compare_tokens_finds_the_first_difference():
    assert offline.compare_tokens([1, 2, 3], [1, 2, 3]) is None
    assert offline.compare_tokens([1, 2, 3], [1, 5, 4], "v") == offline.Mismatch("v", 1, 2, 5)
    assert offline.compare_tokens([1, 2, 3], [1, 2]) == offline.Mismatch("", 2, 3, None)
    assert offline.compare_tokens([1, 2], [1, 2, 7]) == offline.Mismatch("", 2, None, 7)


def _measurement(video, tokens):
    stats = GenerationStats("naive", video_tokens=40, draft_video_tokens=40, num_drafts=2, num_accepted_tokens=3,
                            decode_s=0.5, prefill_s=0.1)
    return offline.Measurement(video, tokens, stats, ttft_s=0.1, processing_s=0.01, peak_memory_bytes=None)


def test_a_different_output_is_reported_in_the_row_and_the_markdown():
    setting = offline.Setting("naive", 8, "none", 0.0)
    references = {"a": [5, 6, 7, 8], "b": [1, 2, 3, 4]}
    row = offline.summarize(setting, [_measurement("a", [5, 6, 7, 8]), _measurement("b", [1, 2, 9, 4])], references)
    assert not row["matches_ar"]
    assert row["mismatches"] == [{"video": "b", "index": 2, "expected": 3, "got": 9}]
    assert row["mean_acceptance_length"] == pytest.approx((6 + 4) / 4)
    meta = {"device": "cpu", "dtype": "float32", "target": "t", "draft": "d", "kv_cache": "c", "command": "x",
            "max_tokens": 4, "tree": "tree", "draft_positions": "original", "videos": ["a", "b"]}
    markdown = offline.markdown([row], meta)
    assert "**NO**" in markdown
    assert "video b: first difference at token 2 (ar 3, got 9)" in markdown


def test_a_run_whose_output_differs_from_ar_fails(tiny_dirs, tmp_path, monkeypatch):
    real_generate = offline.generate

    def corrupted(pair, inputs, params, stats=None):
        """The naive method's third token is wrong: a stand-in for a lossless-ness bug."""
        emitted = 0
        for chunk in real_generate(pair, inputs, params, stats):
            tokens = list(chunk.token_ids)
            if params.method == "naive" and emitted <= 2 < emitted + len(tokens):
                tokens[2 - emitted] += 1
            emitted += len(tokens)
            yield type(chunk)(tokens, chunk.finish_reason)

    monkeypatch.setattr(offline, "generate", corrupted)
    args = tiny_args(tiny_dirs, "qwen2_5_vl", tmp_path, "--frames", "4", "--strategies", "uniform")
    assert offline.run(args) == 1
    rows = {r["method"]: r for r in json.loads((tmp_path / "results.json").read_text())["rows"]}
    assert rows["specvlm"]["matches_ar"] and rows["ar"]["matches_ar"]
    assert not rows["naive"]["matches_ar"]
    assert [m["index"] for m in rows["naive"]["mismatches"]] == [2]
    assert "Outputs that differ from `ar`" in (tmp_path / "results.md").read_text()


def test_sampled_run_reports_acceptance_and_skips_the_token_check(tiny_dirs, tmp_path):
    args = tiny_args(tiny_dirs, "qwen2_5_vl", tmp_path, "--frames", "4", "--strategies", "specvlm",
                     "--temperature", "0.8", "--top-p", "0.95")
    assert offline.run(args) == 0
    result = json.loads((tmp_path / "results.json").read_text())
    assert all(r["matches_ar"] is None and r["mismatches"] == [] for r in result["rows"])
    assert all(r["mean_acceptance_length"] >= 1.0 for r in result["rows"] if r["method"] != "ar")
    assert result["meta"]["temperature"] == 0.8
    markdown = (tmp_path / "results.md").read_text()
    assert "sampled at temperature 0.8" in markdown and "**NO**" not in markdown


def test_the_checkpoints_repetition_penalty_applies_and_stays_lossless(tiny_dirs, tmp_path):
    import shutil

    target, draft = tiny_dirs["qwen2_5_vl"]
    penalized = tmp_path / "target"
    shutil.copytree(target, penalized)
    config = json.loads((penalized / "generation_config.json").read_text())
    (penalized / "generation_config.json").write_text(json.dumps({**config, "repetition_penalty": 1.3}))
    out = tmp_path / "out"
    args = bench_args("--target", str(penalized), "--draft", str(draft), "--device", "cpu", "--num-videos", "1",
                      "--max-tokens", "16", "--frames", "4", "--strategies", "specvlm", "--drop-rates", "0.9",
                      "--out", str(out))
    assert offline.run(args) == 0
    result = json.loads((out / "results.json").read_text())
    assert result["meta"]["repetition_penalty"] == 1.3
    assert all(r["matches_ar"] for r in result["rows"])
    assert "repetition penalty 1.3" in (out / "results.md").read_text()
