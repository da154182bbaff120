"""decode_video / decode_image on real encoded media."""

from __future__ import annotations

import io

import av
import numpy as np
import pytest
from PIL import Image
from transformers.video_utils import VideoMetadata

from specvlm.media import frames as frames_module
from specvlm.media.fetch import MediaError
from specvlm.media.frames import decode_image, decode_video
from specvlm.media.synthetic import encode_video, synthetic_frames

CLIP = synthetic_frames(0, 24, height=48, width=64)  # 3 s at the default 8 fps


def every_frame(data: bytes) -> np.ndarray:
    """Reference: a plain sequential decode of the whole stream."""
    with av.open(io.BytesIO(data)) as container:
        return np.stack([frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)])


@pytest.mark.parametrize("container, codec", [("mp4", None), ("mp4", "mpeg4"), ("mov", None), ("mkv", None),
                                              ("webm", None), ("webm", "libvpx-vp9"), ("avi", None)])
def test_decodes_each_container(container, codec):
    video = decode_video(encode_video(CLIP, container, codec), num_frames=4)
    assert video.frames.dtype == np.uint8 and video.frames.shape == (4, 48, 64, 3)
    assert video.metadata == {"total_num_frames": 24, "fps": 8.0, "duration": 3.0, "width": 64, "height": 48,
                              "frames_indices": [0, 6, 12, 18], "video_backend": "pyav"}
    # the right frames, in RGB order (lossy codecs: close, not equal)
    assert np.abs(video.frames.astype(int) - CLIP[[0, 6, 12, 18]]).mean() < 8


def test_frames_match_a_sequential_decode_exactly():
    data = encode_video(CLIP, "mkv")
    video = decode_video(data, num_frames=5)
    np.testing.assert_array_equal(video.frames, every_frame(data)[video.metadata["frames_indices"]])


@pytest.mark.parametrize("kwargs, indices", [
    ({}, [0, 3, 6, 9, 12, 15, 18, 21]),  # default_num_frames
    ({"num_frames": 3}, [0, 8, 16]),
    ({"num_frames": 100}, list(range(24))),  # never more than the video has
    ({"num_frames": 100, "max_frames": 6}, [0, 4, 8, 12, 16, 20]),  # the server ceiling wins
    ({"default_num_frames": 2}, [0, 12]),
    ({"fps": 2.0}, [0, 4, 8, 12, 16, 20]),  # one frame every 0.5 s
    ({"fps": 0.1}, [0]),  # at least one frame
    ({"fps": 50.0, "max_frames": 12}, list(range(0, 24, 2))),
    ({"fps": 2.0, "num_frames": 3}, [0, 8, 16]),  # fps, at most num_frames
])
def test_sampling(kwargs, indices):
    video = decode_video(encode_video(CLIP, "mp4"), **kwargs)
    assert video.metadata["frames_indices"] == indices
    assert len(video.frames) == len(indices)


@pytest.mark.parametrize("fps, sampled_fps", [(2.0, 2.0), (4.0, 4.0), (3.0, 3.0), (0.4, 0.4), (0.5, 0.4)])
def test_transformers_sees_the_rate_frames_were_taken_at(fps, sampled_fps):
    # Qwen2.5-VL places frames in time by VideoMetadata.sampled_fps. floor(duration * fps) frames
    # spread evenly over the whole video make it the true rate, even when that is below `fps`.
    five_seconds = encode_video(synthetic_frames(1, 40, 32, 32), "mp4")
    metadata = VideoMetadata(**decode_video(five_seconds, fps=fps).metadata)
    assert metadata.duration == 5.0
    assert metadata.sampled_fps == pytest.approx(sampled_fps)
    assert np.abs(np.diff(metadata.timestamps) - 1 / sampled_fps).max() < 1 / 8  # within a source frame


@pytest.mark.parametrize("kwargs", [{"num_frames": 0}, {"num_frames": -3}, {"fps": 0.0}, {"fps": -1.0},
                                    {"fps": float("nan")}])
def test_bad_sampling_is_refused(kwargs):
    with pytest.raises(MediaError) as error:
        decode_video(encode_video(CLIP, "mp4"), **kwargs)
    assert error.value.code == "invalid_video_sampling" and error.value.status == 400


class CountingSeeks:
    """A PyAV container that counts its seeks."""

    def __init__(self, container):
        self.container, self.seeks = container, 0

    def __getattr__(self, name):
        return getattr(self.container, name)

    def seek(self, *args, **kwargs):
        self.seeks += 1
        return self.container.seek(*args, **kwargs)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.container.close()


@pytest.fixture
def opened(monkeypatch):
    """The containers decode_video opens, counting seeks."""
    opened, real_open = [], frames_module._open

    def counting_open(data):
        container, stream = real_open(data)
        opened.append(CountingSeeks(container))
        return opened[-1], stream

    monkeypatch.setattr(frames_module, "_open", counting_open)
    return opened


@pytest.mark.parametrize("container", ["mp4", "webm"])
def test_long_video_seeks_to_each_target_and_matches_sequential_decode(container, opened):
    data = encode_video(synthetic_frames(2, 600, 32, 48), container, keyframe_interval=25)
    video = decode_video(data, num_frames=8)
    indices = video.metadata["frames_indices"]
    assert indices == list(range(0, 600, 75))
    assert [c.seeks for c in opened] == [0, 7]  # the scan, then a jump for every target after the first
    np.testing.assert_array_equal(video.frames, every_frame(data)[indices])


def test_short_video_is_one_pass(opened):
    video = decode_video(encode_video(CLIP, "mp4"), num_frames=12)  # one keyframe: nothing to jump to
    assert len(video.frames) == 12 and [c.seeks for c in opened] == [0, 0]


def test_inexact_seeking_falls_back_to_one_pass(opened):
    # MPEG-TS seeks land a group of pictures late
    data = encode_video(synthetic_frames(3, 200, 32, 48), "mpegts", "h264", keyframe_interval=20)
    video = decode_video(data, num_frames=5)
    assert len(opened) == 3  # scan, seeking attempt, sequential pass
    np.testing.assert_array_equal(video.frames, every_frame(data)[[0, 40, 80, 120, 160]])


def test_stream_without_timestamps():
    data = encode_video(CLIP, "h264", "h264")  # a raw H.264 stream: no container, no timestamps
    video = decode_video(data, num_frames=4)
    assert video.metadata["frames_indices"] == [0, 6, 12, 18]
    np.testing.assert_array_equal(video.frames, every_frame(data)[[0, 6, 12, 18]])


@pytest.mark.parametrize("container", ["mkv", "webm"])
def test_truncated_video_gives_the_frames_that_decode(container):
    data = encode_video(synthetic_frames(4, 120, 32, 48), container)
    video = decode_video(data[: len(data) // 2], num_frames=16)
    total = video.metadata["total_num_frames"]
    assert 0 < total < 120 and 0 < len(video.frames) <= 16
    indices = video.metadata["frames_indices"]
    assert indices == sorted(set(indices)) and indices[-1] < total


def test_mp4_cut_before_its_index_is_invalid():
    data = encode_video(CLIP, "mp4")  # the index (moov) is written last
    with pytest.raises(MediaError) as error:
        decode_video(data[: len(data) // 2])
    assert error.value.code == "invalid_video"


def test_resolution_change_mid_stream_still_stacks():
    spliced = (encode_video(synthetic_frames(5, 10, 32, 48), "mpegts", "h264")
               + encode_video(synthetic_frames(6, 10, 64, 96), "mpegts", "h264"))
    video = decode_video(spliced, num_frames=20)
    assert video.frames.shape == (20, 32, 48, 3)


def test_display_rotation_is_applied():
    video = decode_video(encode_video(CLIP, "mp4", rotation=90), num_frames=2)
    assert video.frames.shape == (2, 64, 48, 3)
    assert video.metadata["width"] == 48 and video.metadata["height"] == 64
    assert np.abs(video.frames[0].astype(int) - np.rot90(CLIP[0])).mean() < 8


def audio_only() -> bytes:
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="wav") as out:
        stream = out.add_stream("pcm_s16le", rate=8000, layout="mono")
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
        frame.sample_rate = 8000
        out.mux(stream.encode(frame))
        out.mux(stream.encode())
    return buffer.getvalue()


@pytest.mark.parametrize("data", [b"", b"not a video at all" * 100, np.random.default_rng(0).bytes(20000),
                                  audio_only()], ids=["empty", "text", "noise", "audio"])
def test_not_a_video(data):
    with pytest.raises(MediaError) as error:
        decode_video(data)
    assert error.value.code == "invalid_video" and error.value.status == 400


def test_oversized_frames_are_refused(monkeypatch):
    monkeypatch.setattr(frames_module, "_MAX_FRAME_PIXELS", 64 * 48 - 1)
    with pytest.raises(MediaError, match="64x48"):
        decode_video(encode_video(CLIP, "mp4"))


def encode_image(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def test_decode_image():
    image = decode_image(encode_image(Image.fromarray(CLIP[0]), "PNG"))
    assert image.mode == "RGB" and np.array_equal(np.asarray(image), CLIP[0])
    assert decode_image(encode_image(Image.fromarray(CLIP[0]), "JPEG")).size == (64, 48)


def test_transparency_becomes_white():
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[:2] = (255, 0, 0, 255)  # opaque red on top, transparent below
    pixels = np.asarray(decode_image(encode_image(Image.fromarray(rgba), "PNG")))
    assert (pixels[0, 0] == (255, 0, 0)).all() and (pixels[3, 0] == (255, 255, 255)).all()


def test_exif_orientation_is_applied():
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: rotate 90 degrees clockwise to view
    image = decode_image(encode_image(Image.fromarray(CLIP[0]), "JPEG", exif=exif))
    assert image.size == (48, 64)


@pytest.mark.parametrize("data", [b"", b"\x89PNG\r\n\x1a\n broken", b"plain text"])
def test_not_an_image(data):
    with pytest.raises(MediaError) as error:
        decode_image(data)
    assert error.value.code == "invalid_image"


def test_large_frames_are_scaled_down_while_decoding():
    from specvlm.media.frames import decode_video as decode
    from specvlm.media.synthetic import encode_video as encode, synthetic_frames as frames_of

    data = encode(frames_of(0, 4, height=240, width=320))
    small = decode(data, num_frames=2, max_side=160)
    assert small.frames.shape == (2, 120, 160, 3)
    assert (small.metadata["width"], small.metadata["height"]) == (160, 120)
    assert decode(data, num_frames=2, max_side=1280).frames.shape == (2, 240, 320, 3)
