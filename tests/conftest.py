"""Shared fixtures: tiny checkpoints of both families, made once per test session."""

from __future__ import annotations

import pytest

from specvlm.models.tiny import FAMILIES, make_tiny


@pytest.fixture(scope="session")
def tiny_dirs(tmp_path_factory):
    """family -> (target_dir, draft_dir), generated offline by `make_tiny`."""
    root = tmp_path_factory.mktemp("tiny")
    return {family: make_tiny(root / family, family) for family in FAMILIES}


@pytest.fixture(scope="session")
def tiny_pairs(tiny_dirs):
    """family -> loaded ModelPair (float32 on CPU)."""
    from specvlm.models.loading import load_pair

    return {family: load_pair(str(t), str(d), device="cpu") for family, (t, d) in tiny_dirs.items()}
