"""`specvlm bench --random-weights` with the tiny shapes on CPU, and the real shapes' sizes."""

import json

import pytest
import torch

from specvlm.bench import random_weights
from specvlm.bench.random_weights import SHAPES

from .test_offline import bench_args

ROW_KEYS = {"target_shape", "draft_shape", "video_tokens", "context_tokens", "drop_rate", "kept_video_tokens",
            "target_decode_ms", "target_verify_ms", "target_decode_bytes", "target_roofline_pct",
            "target_prefill_ms", "target_cached_prefill_ms", "draft_step_full_ms", "draft_step_pruned_ms", "draft_tree_full_ms", "draft_tree_pruned_ms",
            "acceptance_length", "projected_speedup_naive", "projected_speedup_specvlm"}


@pytest.mark.parametrize("shape", ["tiny", "tiny_llava"])
def test_tiny_shape_times_every_step_on_cpu(tmp_path, shape):
    from specvlm.bench import offline

    args = bench_args("--random-weights", shape, "--device", "cpu", "--video-tokens", "32,96",
                      "--drop-rates", "0.5,0.9", "--repeats", "2", "--out", str(tmp_path))
    assert offline.run(args) == 0

    result = json.loads((tmp_path / "results.json").read_text())
    rows = result["rows"]
    assert [(r["video_tokens"], r["drop_rate"]) for r in rows] == [(32, 0.5), (32, 0.9), (96, 0.5), (96, 0.9)]
    for row in rows:
        assert set(row) == ROW_KEYS
        assert row["context_tokens"] == row["video_tokens"] + 64
        assert row["kept_video_tokens"] == int(row["video_tokens"] * (1 - row["drop_rate"]) + 1e-6)
        for key in ROW_KEYS - {"target_shape", "draft_shape"}:
            assert row[key] is not None and row[key] > 0, key
    assert rows[2]["target_decode_bytes"] > rows[0]["target_decode_bytes"]  # a longer KV cache to read
    assert "cached prefill ms" in (tmp_path / "results.md").read_text()
    meta = result["meta"]
    assert meta["kv_cache"] == "DynamicCache of GrowableLayer"
    assert meta["dtype"] == "bfloat16" and meta["tree_draft_nodes"] == 25 and meta["skipped"] == []
    assert meta["target_shape"]["name"] == shape and meta["draft_shape"]["name"] == shape
    assert "projected" in (tmp_path / "results.md").read_text()
    for plot in ("step_costs.png", "projected_speedup.png"):
        assert (tmp_path / plot).read_bytes()[:4] == b"\x89PNG"


def test_without_a_draft_only_the_target_is_timed(tmp_path):
    from specvlm.bench import offline

    args = bench_args("--random-weights", "tiny", "--random-draft", "none", "--device", "cpu",
                      "--video-tokens", "16", "--drop-rates", "0.9", "--repeats", "1", "--out", str(tmp_path))
    assert offline.run(args) == 0
    [row] = json.loads((tmp_path / "results.json").read_text())["rows"]
    assert row["target_decode_ms"] > 0 and row["target_verify_ms"] > 0
    assert row["draft_tree_pruned_ms"] is None and row["projected_speedup_specvlm"] is None


# Published language-model sizes, in billions of parameters.
PUBLISHED = {"qwen2_5_vl_3b": 3.09, "qwen2_5_vl_7b": 7.62, "qwen2_5_vl_32b": 32.8, "qwen2_5_vl_72b": 72.7,
             "llava_ov_0.5b": 0.494, "llava_ov_7b": 7.62, "llava_ov_72b": 72.7}


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_real_shapes_have_their_published_size(name):
    """Built on the meta device: nothing is allocated."""
    params = random_weights.parameter_bytes(SHAPES[name], torch.bfloat16) / 2
    assert params / 1e9 == pytest.approx(PUBLISHED[name], rel=0.01)
    draft = SHAPES[name].draft
    assert draft is None or SHAPES[draft].family == SHAPES[name].family


def test_mrope_sections_match_qwen2_5_vl():
    assert random_weights._mrope_section(128) == [16, 24, 24]
    assert random_weights._mrope_section(16) == [2, 3, 3]
