"""Synthetic videos with real structure (a moving blob over gradients), for tests,
benchmarks and the demo: neighbouring video tokens are alike, as in real footage."""

from __future__ import annotations

import io

import av
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


# container -> (FFmpeg muxer, default codec)
_CONTAINERS = {"mp4": ("mp4", "h264"), "mov": ("mov", "h264"), "mkv": ("matroska", "h264"),
               "webm": ("webm", "libvpx"), "avi": ("avi", "mpeg4")}


def encode_video(frames: np.ndarray, container: str = "mp4", codec: str | None = None, fps: int = 8, *,
                 keyframe_interval: int | None = None, rotation: int = 0,
                 container_options: dict[str, str] | None = None) -> bytes:
    """A real video file (in memory) of `frames` [T, H, W, 3] uint8, encoded with PyAV.

    `container` is one of mp4, mov, mkv, webm, avi, or any FFmpeg muxer name given with a `codec`
    (e.g. "h264" for a raw stream without timestamps). `rotation` stores a counterclockwise display
    rotation in degrees, as phones do; `container_options` go to the muxer
    (e.g. {"live": "1"} for a webm without a seek index).
    """
    muxer, default_codec = _CONTAINERS.get(container, (container, None))
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=muxer, options=container_options or {}) as out:
        stream = out.add_stream(codec or default_codec, rate=fps)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        if keyframe_interval:
            stream.codec_context.gop_size = keyframe_interval
        if rotation:
            stream.set_display_rotation(rotation)
        for frame in frames:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        out.mux(stream.encode())
    return buffer.getvalue()
