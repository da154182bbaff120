"""Synthetic videos with real structure (a moving blob over gradients), for tests,
benchmarks and the demo: neighbouring video tokens are alike, as in real footage."""

from __future__ import annotations

import numpy as np


def synthetic_frames(seed: int, num_frames: int = 8, height: int = 64, width: int = 80) -> np.ndarray:
    """[num_frames, height, width, 3] uint8 frames; different seeds give different videos."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    colour = rng.uniform(0, 255, 3)
    velocity = rng.uniform(-3, 3, 2)
    start = rng.uniform(0.2, 0.8, 2) * (height, width)
    tint = rng.uniform(0.2, 1.0, 3)
    frames = []
    for t in range(num_frames):
        cy, cx = start + velocity * t
        blob = np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (0.04 * height * width))
        background = (x / width * 160)[..., None] * tint + 30 * np.sin(y / 7 + t)[..., None]
        frames.append(np.clip(background + colour * blob[..., None], 0, 255).astype(np.uint8))
    return np.stack(frames)
