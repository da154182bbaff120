"""Video and image bytes -> frames (PyAV, Pillow), sampled uniformly in time."""

from __future__ import annotations

import io
import math
from bisect import bisect_left, bisect_right

import av
import numpy as np
from PIL import Image, ImageOps

from ..inputs import VideoInput
from .fetch import MediaError

# Pillow's decompression-bomb limit, applied to each video frame too: a few KiB of video can
# declare frames that would take gigabytes once decoded to RGB.
_MAX_FRAME_PIXELS = Image.MAX_IMAGE_PIXELS


def _sample_count(total: int, source_fps: float, num_frames: int | None, fps: float | None,
                  max_frames: int, default_num_frames: int) -> int:
    """How many frames to keep; `fps` with `num_frames` means at that rate, at most that many."""
    if fps is not None:
        count = max(1, math.floor(total / source_fps * fps))
        if num_frames is not None:
            count = min(count, num_frames)
    else:
        count = num_frames if num_frames is not None else default_num_frames
    return min(count, max_frames, total)


def _sample_indices(total: int, count: int) -> list[int]:
    """`count` source frames evenly spaced `total / count` apart from the first, as transformers
    samples them: then transformers' `sampled_fps` (count / total * fps) is the true rate."""
    return [i * total // count for i in range(count)]


def _scan(container: av.container.InputContainer, stream: av.video.stream.VideoStream
          ) -> tuple[int, list[int] | None, list[int]]:
    """From the packets alone (no decoding): the number of frames, their presentation timestamps
    in display order (None when they cannot place frames) and the display indices of keyframes."""
    entries = []
    try:
        for packet in container.demux(stream):
            if packet.size:  # size 0 is the demuxer's end-of-stream marker
                entries.append((packet.pts, packet.is_keyframe))
    except av.FFmpegError:  # damaged or truncated: the frames before the damage
        pass
    timestamps = {pts for pts, _ in entries}
    if None in timestamps or len(timestamps) < len(entries):  # missing, or repeated by spliced streams
        return len(entries), None, []
    entries.sort()
    return len(entries), [pts for pts, _ in entries], [i for i, (_, key) in enumerate(entries) if key]


def _decode_seeking(container, stream, size: tuple[int, int], timestamps: list[int], keyframes: list[int],
                    wanted: list[int]) -> dict[int, np.ndarray] | None:
    """Frames at the wanted display indices, or None when a seek lands past its target (some
    demuxers seek inexactly). Jumps to the keyframe before a target whenever that skips frames,
    otherwise keeps decoding forward: a long video costs about one group of pictures per
    target, a short one a single pass."""
    frames = {}
    position = -1  # display index of the last frame decoded
    decoded, sought = container.decode(stream), False  # a fresh container decodes from the start
    for target in wanted:
        keyframe = keyframes[max(bisect_right(keyframes, target) - 1, 0)] if keyframes else 0
        try:
            if decoded is None or keyframe > position + 1:
                container.seek(timestamps[keyframe], stream=stream, backward=True)
                decoded, sought = container.decode(stream), True
            for frame in decoded:
                if frame.pts is None:
                    continue
                position = bisect_left(timestamps, frame.pts)
                if sought and position > target:
                    return None
                sought = False
                if position >= target:
                    frames[position] = _to_rgb(frame, size)
                    break
            else:
                decoded = None  # the data ended early: seek afresh for the next target
        except av.FFmpegError:  # damaged data or a failed seek: seek afresh for the next target
            decoded = None
    return frames


def _decode_in_order(container, stream, size: tuple[int, int], wanted: list[int]) -> dict[int, np.ndarray]:
    """Frames at the wanted indices, counting frames in one pass from the start."""
    frames, wanted_set = {}, set(wanted)
    try:
        for index, frame in enumerate(container.decode(stream)):
            if index in wanted_set:
                frames[index] = _to_rgb(frame, size)
            if index >= wanted[-1]:
                break
    except av.FFmpegError:  # a damaged tail: keep what decoded
        pass
    return frames


def _to_rgb(frame: av.VideoFrame, size: tuple[int, int]) -> np.ndarray:
    """[H, W, 3] uint8 at the stream's declared (width, height), so that a resolution change
    mid-stream still stacks; turned upright when the video carries a display rotation."""
    rgb = frame.to_ndarray(format="rgb24", width=size[0], height=size[1])
    quarter_turns = round(frame.rotation / 90) % 4  # counterclockwise, like np.rot90
    return np.ascontiguousarray(np.rot90(rgb, quarter_turns)) if quarter_turns else rgb


def _open(data: bytes) -> tuple[av.container.InputContainer, av.video.stream.VideoStream]:
    try:
        container = av.open(io.BytesIO(data))
    except (av.FFmpegError, ValueError, OSError):
        raise MediaError("media is not a readable video", "invalid_video") from None
    if not container.streams.video:
        container.close()
        raise MediaError("media has no video stream", "invalid_video")
    return container, container.streams.video[0]


def _source_fps(stream, timestamps: list[int] | None) -> float:
    if rate := stream.average_rate or stream.guessed_rate:
        return float(rate)
    if timestamps and timestamps[-1] > timestamps[0]:  # from the frames' timestamps
        return (len(timestamps) - 1) / float((timestamps[-1] - timestamps[0]) * stream.time_base)
    return 1.0


def _fit(size: tuple[int, int], max_side: int | None) -> tuple[int, int]:
    """(width, height) scaled down, aspect kept and even, so the longer side is <= max_side."""
    width, height = size
    if not max_side or max(width, height) <= max_side:
        return size
    scale = max_side / max(width, height)
    return max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2)


def decode_video(data: bytes, *, num_frames: int | None = None, fps: float | None = None,
                 max_frames: int = 64, default_num_frames: int = 8, max_side: int | None = None) -> VideoInput:
    """Frames sampled uniformly over the video, with transformers VideoMetadata fields.

    `num_frames` frames evenly spaced, or one every 1/`fps` seconds (at most `num_frames` if both
    are given), or `default_num_frames`; never more than `max_frames` nor than the video has.
    A damaged video gives the frames that decode; none at all is a MediaError. Frames whose
    longer side exceeds `max_side` are scaled down while decoding (the processor resizes them
    anyway; full-size 4K frames would cost gigabytes).
    """
    if num_frames is not None and num_frames < 1:
        raise MediaError("num_frames must be at least 1", "invalid_video_sampling", param="media_io_kwargs")
    if fps is not None and not (fps > 0 and math.isfinite(fps)):
        raise MediaError("fps must be a positive number", "invalid_video_sampling", param="media_io_kwargs")
    container, stream = _open(data)
    with container:
        size = (stream.codec_context.width, stream.codec_context.height)
        if size[0] * size[1] > _MAX_FRAME_PIXELS or 0 in size:
            raise MediaError(f"video frames of {size[0]}x{size[1]} pixels cannot be decoded", "invalid_video")
        size = _fit(size, max_side)
        total, timestamps, keyframes = _scan(container, stream)
        source_fps = _source_fps(stream, timestamps)
    if total == 0:
        raise MediaError("media has no video frames", "invalid_video")
    wanted = _sample_indices(total, _sample_count(total, source_fps, num_frames, fps, max_frames, default_num_frames))
    frames = None
    if timestamps is not None:
        container, stream = _open(data)
        with container:
            frames = _decode_seeking(container, stream, size, timestamps, keyframes, wanted)
    if frames is None:  # no timestamps to seek by, or seeks land past their targets
        container, stream = _open(data)
        with container:
            frames = _decode_in_order(container, stream, size, wanted)
    if not frames:
        raise MediaError("no frame of the video could be decoded", "invalid_video")
    indices = sorted(frames)
    array = np.stack([frames[i] for i in indices])
    metadata = {"total_num_frames": total, "fps": source_fps, "duration": total / source_fps,
                "width": int(array.shape[2]), "height": int(array.shape[1]),
                "frames_indices": indices, "video_backend": "pyav"}
    return VideoInput(array, metadata)


def decode_image(data: bytes) -> Image.Image:
    """An upright RGB image; transparency is flattened onto white, as transformers does."""
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
        image = ImageOps.exif_transpose(image)
    except Image.DecompressionBombError:
        raise MediaError("image has too many pixels", "invalid_image") from None
    except (OSError, ValueError, SyntaxError):  # UnidentifiedImageError is an OSError
        raise MediaError("media is not a readable image", "invalid_image") from None
    if image.mode == "RGB":
        return image
    rgba = image.convert("RGBA")
    return Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255)), rgba).convert("RGB")
