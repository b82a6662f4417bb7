"""One home for every default: ``StreamConfig`` (and ``EncoderOptions``, ``ReconnectPolicy``).

``initialize()``, ``StreamConfig.create()`` and the CLI's flags must agree with it, whatever
name each layer gives the setting (``stall_timeout`` is ``io_timeout``, ``keyint`` is
``encoding.keyint_s``, ``use_nvenc`` is ``encoding.allow_hardware``).
"""

from __future__ import annotations

import inspect

import pytest

from ionia import ReconnectPolicy, VideoAudioRecorder, VideoAudioStreamer
from ionia.checks import format_bitrate, parse_bitrate
from ionia.cli.main import build_parser
from ionia.config import StreamConfig

URL = "rtmp://live.example.com/app/KEY"


def defaults(function: object) -> dict[str, object]:
    return {
        name: p.default
        for name, p in inspect.signature(function).parameters.items()  # type: ignore[arg-type]
        if p.default is not inspect.Parameter.empty
    }


def test_initialize_and_create_have_the_config_s_defaults():
    made = StreamConfig.create(URL)
    expected = {
        "fps": made.fps,
        "video_bitrate": made.video_bitrate,
        "audio_bitrate": made.audio_bitrate,
        "use_nvenc": made.encoding.allow_hardware,
        "audio_mode": made.audio_mode,
        "video_source": made.video_source,
        "keyint": made.encoding.keyint_s,
        "stall_timeout": made.io_timeout,
        "buffer_ms": made.buffer_ms,
    }
    assert (made.video_source, made.audio_mode) == ("screen", "both")  # README's defaults
    for function in (
        VideoAudioStreamer.initialize,
        VideoAudioRecorder.initialize,
        StreamConfig.create,
    ):
        given = defaults(function)
        for name, value in expected.items():
            if name in given:
                assert given[name] == value, (function.__qualname__, name)


@pytest.mark.parametrize("command", [["stream", URL], ["record", "x.mp4"]])
def test_the_cli_flags_have_the_config_s_defaults(command):
    args = build_parser().parse_args(command)
    made = StreamConfig.create(URL)
    assert (args.video, args.audio, args.fps, args.fit) == (
        made.video_source, made.audio_mode, made.fps, made.encoding.fit,
    )  # fmt: skip
    assert parse_bitrate(args.video_bitrate) == made.video_bitrate
    assert parse_bitrate(args.audio_bitrate) == made.audio_bitrate
    assert (args.encoder, args.keyint, args.codec) == (
        made.encoding.encoder, made.encoding.keyint_s, made.encoding.codec,
    )  # fmt: skip
    # no --preset: the codec's default, resolved once by StreamConfig.create
    assert args.preset is None and made.encoding.preset == "veryfast"
    if command[0] == "stream":
        assert (args.buffer_ms, args.stall_timeout) == (made.buffer_ms, made.io_timeout)
        assert (args.connect_timeout, args.stop_timeout) == (
            made.connect_timeout, made.stop_timeout,
        )  # fmt: skip
        # "auto", resolved by create() from the destinations (off for this RTMP URL)
        assert args.adaptive_bitrate == StreamConfig.adaptive_bitrate == "auto"
        resolved = StreamConfig.create(URL, adaptive_bitrate=args.adaptive_bitrate)
        assert resolved.adaptive_bitrate == made.adaptive_bitrate == "off"
        assert parse_bitrate(args.min_video_bitrate) == made.min_video_bitrate
        policy = ReconnectPolicy()
        assert (args.reconnect_delay, args.reconnect_max_delay, args.reconnect_attempts) == (
            policy.delay, policy.max_delay, policy.max_attempts,
        )  # fmt: skip


@pytest.mark.parametrize(
    ("bits", "text"),
    [(5_000_000, "5M"), (192_000, "192k"), (4_500_000, "4500k"), (1500, "1500"), (0, "0")],
)
def test_format_bitrate_is_read_back_by_parse_bitrate(bits, text):
    assert format_bitrate(bits) == text
    assert parse_bitrate(text) == bits
