import random
import re

import pytest

from ionia import ReconnectPolicy, VideoAudioRecorder, VideoAudioStreamer
from ionia.checks import parse_bitrate, parse_size
from ionia.config import StreamConfig
from ionia.encoding.video import VideoEncoder, VideoEncoderSettings
from ionia.errors import ConfigError, EncoderError

URL = "rtmp://live.example.com/app/SECRETKEY"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("4500k", 4_500_000),
        ("5M", 5_000_000),
        ("192000", 192_000),
        ("2.5m", 2_500_000),
        ("128kbps", 128_000),
        (3_000_000, 3_000_000),
    ],
)
def test_parse_bitrate(text, expected):
    assert parse_bitrate(text) == expected


@pytest.mark.parametrize("text", ["fast", "5G", "", "-3k", "k"])
def test_parse_bitrate_rejects_garbage(text):
    with pytest.raises(ConfigError, match="bitrate"):
        parse_bitrate(text)


def test_parse_size():
    assert parse_size("1280x720") == (1280, 720)
    with pytest.raises(ConfigError, match="WIDTHxHEIGHT"):
        parse_size("1280*720")


def test_odd_size_is_rounded_for_420(caplog):
    caplog.set_level("INFO", logger="ionia")
    config = StreamConfig.create(URL, size="641x361")
    assert config.size == (640, 360)
    assert "rounded" in caplog.text


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"fps": 0}, "fps 0 is out of range"),
        ({"fps": 240}, "fps 240 is out of range"),
        ({"video_bitrate": "10k"}, "video bitrate"),
        ({"audio_bitrate": "2M"}, "audio bitrate"),
        ({"size": "8x8"}, "size 8"),
        ({"audio_mode": "loud"}, "audio mode 'loud'"),
        ({"video_source": "/nonexistent.mp4"}, "video source"),
        ({"keyint": 0}, "keyint"),
        ({"buffer_ms": 10}, r"buffer ms \(--buffer-ms\) 10 ms is out of range"),
        ({"ca_file": "/nonexistent.pem"}, "CA file not found"),
        ({"colour": "red"}, "unknown option"),
    ],
)
def test_bad_settings_name_the_problem(kwargs, message):
    with pytest.raises(ConfigError, match=message) as info:
        StreamConfig.create(URL, **kwargs)
    assert "SECRETKEY" not in str(info.value)


def test_file_destinations_pick_the_muxer(tmp_path):
    for suffix, fmt in ((".flv", "flv"), (".mp4", "mp4"), (".mkv", "matroska")):
        config = StreamConfig.create(str(tmp_path / f"out{suffix}"))
        assert config.destination.file_format == fmt
        assert config.destination.url is None


def test_file_in_missing_folder_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        StreamConfig.create(str(tmp_path / "nope" / "out.mp4"))


def test_destination_display_masks_the_key():
    config = StreamConfig.create(URL)
    assert config.destination.display == "rtmp://live.example.com/app/****"
    assert "SECRETKEY" not in repr(config)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"region": "10,10,0,5"}, "region"),
        ({"region": "left half"}, "region"),
        ({"monitor": -1}, "monitor"),
        ({"capture": "vnc"}, "backend"),
        ({"system_gain": 99}, r"system gain \(--system-gain\) 99 dB is out of range"),
        ({"audio_mode": "both", "audio_device": "USB"}, "--system-device/--mic-device"),
    ],
)
def test_bad_capture_options_name_the_problem(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        StreamConfig.create(URL, **kwargs)


def test_audio_device_goes_to_the_one_device_of_the_mode():
    config = StreamConfig.create(URL, audio_mode="mic", audio_device="USB", mic_gain=-6)
    assert (config.capture.mic_device, config.capture.system_device) == ("USB", None)
    assert config.capture.mic_gain_db == -6.0 and config.capture.cursor


def test_packet_limit_follows_the_span_limit_unless_given():
    assert StreamConfig.create(URL).max_packets == 185  # (30 + 46.9) packets/s × 2 s × 1.2
    assert StreamConfig.create(URL, audio_mode="none", buffer_ms=500).max_packets == 100
    assert StreamConfig.create(URL, buffer_packets=100).max_packets == 100


def test_a_gain_that_is_no_number_is_a_config_error():
    with pytest.raises(ConfigError, match=r"system gain \(--system-gain\) must be a number of dB"):
        StreamConfig.create(URL, audio_mode="system", system_gain="loud")


# -- every numeric setting: type (bool is no number), finiteness, range ------------------------

NAN, INF = float("nan"), float("inf")


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"fps": NAN}, "fps"),
        ({"fps": INF}, "fps"),
        ({"fps": "30"}, "fps"),
        ({"fps": True}, "fps"),
        ({"fps": 29.97}, "fps must be a whole number"),
        ({"video_bitrate": NAN}, r"video bitrate \(--video-bitrate\)"),
        ({"video_bitrate": INF}, r"video bitrate \(--video-bitrate\)"),
        ({"video_bitrate": -1}, r"video bitrate \(--video-bitrate\)"),
        ({"video_bitrate": "nan"}, r"video bitrate \(--video-bitrate\)"),
        ({"video_bitrate": True}, r"video bitrate \(--video-bitrate\)"),
        ({"audio_bitrate": NAN}, r"audio bitrate \(--audio-bitrate\)"),
        ({"min_video_bitrate": NAN}, r"min video bitrate \(--min-video-bitrate\)"),
        ({"min_video_bitrate": "0"}, r"min video bitrate \(--min-video-bitrate\)"),
        ({"stall_timeout": "5"}, r"stall timeout \(--stall-timeout\) must be a number"),
        ({"stall_timeout": NAN}, r"stall timeout \(--stall-timeout\)"),
        ({"stall_timeout": INF}, r"stall timeout \(--stall-timeout\) inf s is out of range"),
        ({"stall_timeout": 0}, r"stall timeout \(--stall-timeout\) 0 s is out of range"),
        ({"connect_timeout": NAN}, r"connect timeout \(--connect-timeout\)"),
        ({"stop_timeout": -1}, r"stop timeout \(--stop-timeout\)"),
        ({"buffer_ms": "abc"}, r"buffer ms \(--buffer-ms\) must be a whole number"),
        ({"buffer_ms": NAN}, r"buffer ms \(--buffer-ms\)"),
        ({"buffer_ms": 2500.5}, r"buffer ms \(--buffer-ms\)"),
        ({"buffer_ms": True}, r"buffer ms \(--buffer-ms\)"),
        ({"buffer_packets": 2.5}, r"buffer packets \(--buffer-packets\)"),
        ({"buffer_packets": "100"}, r"buffer packets \(--buffer-packets\)"),
        ({"buffer_packets": 1}, r"buffer packets \(--buffer-packets\) 1 is out of range"),
        ({"size": (640.5, 360)}, "size must be a whole number, not 640.5"),
        ({"size": ("640", 360)}, "size must be a whole number"),
        ({"size": (NAN, 360)}, "size"),
        ({"size": (True, 360)}, "size"),
        ({"size": (640,)}, "size"),
        ({"keyint": NAN}, "keyint"),
        ({"keyint": INF}, "keyint"),
        ({"keyint": "2"}, "keyint"),
        ({"monitor": NAN}, "monitor"),
        ({"monitor": 1.5}, "monitor"),
        ({"monitor": "1"}, "monitor"),
        ({"monitor": True}, "monitor"),
        ({"system_gain": INF}, r"system gain \(--system-gain\)"),
        ({"system_gain": NAN}, r"system gain \(--system-gain\)"),
        ({"mic_gain": -INF}, r"mic gain \(--mic-gain\)"),
        ({"tls_verify": "no"}, "tls_verify must be True or False"),
        ({"loop": 1}, "loop must be True or False"),
        ({"use_nvenc": "yes"}, "use_nvenc must be True or False"),
        ({"cursor": "no"}, "cursor must be True or False"),
        ({"preset": "bogus"}, "preset 'bogus' is not an x264 preset: use one of ultrafast,"),
        ({"encoder": 5}, "encoder must be"),
        ({"ca_file": 5}, r"CA file \(--ca-file\)"),
        ({"display": 0}, r"display \(--display\)"),
        ({"record": 5}, "a destination must be an rtmp"),
    ],
)
def test_bad_numbers_and_types_name_the_setting(kwargs, name):
    with pytest.raises(ConfigError, match=name) as info:
        StreamConfig.create(URL, **kwargs)
    assert "SECRETKEY" not in str(info.value)


def test_the_api_gets_the_same_checks_as_the_cli(tmp_path):
    with pytest.raises(ConfigError, match="stall timeout") as info:
        VideoAudioStreamer().initialize(URL, stall_timeout="5", video_source="testsrc")
    assert "SECRETKEY" not in str(info.value)
    with pytest.raises(ConfigError, match="size must be a whole number"):
        VideoAudioStreamer().initialize(URL, size=(640.5, 360), video_source="testsrc")
    with pytest.raises(ConfigError, match="fps"):
        VideoAudioRecorder().initialize(str(tmp_path / "x.mp4"), fps=float("nan"))
    assert not any(tmp_path.iterdir())


def test_whole_valued_floats_are_whole_numbers():
    config = StreamConfig.create(URL, fps=30.0, size=(640.0, 360), monitor=1.0, buffer_ms=2000.0)
    assert (config.fps, config.size, config.capture.monitor, config.buffer_ms) == (
        30, (640, 360), 1, 2000,
    )  # fmt: skip
    assert isinstance(config.fps, int) and isinstance(config.buffer_ms, int)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("4.5M", 4_500_000), (4.5e6, 4_500_000), ("0.5k", 500), (0, 0)],
)
def test_parse_bitrate_takes_fractions(value, expected):
    assert parse_bitrate(value) == expected


@pytest.mark.parametrize(
    "value", [float("nan"), float("inf"), -float("inf"), -1, -0.5, "nan", "inf", "9" * 400, True]
)
def test_parse_bitrate_rejects_non_finite_and_negative(value):
    with pytest.raises(ConfigError, match="--video-bitrate"):
        parse_bitrate(value, what="--video-bitrate")


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"delay": NAN}, r"reconnect delay \(--reconnect-delay\)"),
        ({"delay": "1"}, r"reconnect delay \(--reconnect-delay\)"),
        ({"delay": 0}, r"reconnect delay \(--reconnect-delay\)"),
        ({"delay": 20}, r"reconnect delay \(--reconnect-delay\) 20 s must be at most"),
        ({"max_delay": INF}, r"reconnect max delay \(--reconnect-max-delay\)"),
        ({"max_delay": NAN}, r"reconnect max delay \(--reconnect-max-delay\)"),
        ({"factor": NAN}, "reconnect backoff factor"),
        ({"factor": 0.5}, "reconnect backoff factor"),
        ({"max_attempts": 1.5}, r"reconnect attempts \(--reconnect-attempts"),
        ({"max_attempts": -1}, r"reconnect attempts \(--reconnect-attempts"),
        ({"max_attempts": True}, r"reconnect attempts \(--reconnect-attempts"),
        ({"rejected_retries": NAN}, "rejected_retries"),
        ({"enabled": "yes"}, "reconnect enabled"),
        ({"wait_for_ingest": 1}, "wait_for_ingest"),
    ],
)
def test_bad_reconnect_policy_names_the_setting(kwargs, name):
    with pytest.raises(ConfigError, match=name):
        ReconnectPolicy(**kwargs)


def test_backoff_never_overflows_with_unlimited_attempts():
    policy = ReconnectPolicy()
    for attempt in (0, 3, 1023, 1024, 5000, 10**9):
        # 50-100 % of the delay, at least the first retry's, at most the cap
        assert 0.5 * policy.delay <= policy.backoff(attempt, random.Random(attempt)) <= 10.0
    assert ReconnectPolicy(factor=1.0).backoff(10**6, random.Random(1)) <= policy.delay


# -- files: the same file twice, and files that cannot be written -----------------------------


def test_recording_into_the_stream_file_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "out").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "out")
    for record in ("out/same.flv", "./out/same.flv", str(tmp_path / "out/same.flv"),
                   "link/same.flv", "out/../out/same.flv"):  # fmt: skip
        with pytest.raises(ConfigError, match=r"--record .* is also a stream destination"):
            StreamConfig.create("out/same.flv", record=record)
    with pytest.raises(ConfigError, match="the same destination is given twice"):
        StreamConfig.create(["out/a.mkv", "link/a.mkv"])
    assert not any((tmp_path / "out").iterdir())  # nothing created, no probe left


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("/proc/x.mp4", "cannot write /proc/x.mp4: "),
        ("/sys/x.mp4", "cannot write /sys/x.mp4: "),
        ("{tmp}/x.mp4", "cannot write {tmp}/x.mp4: it is a folder"),
        ("{tmp}/file.txt/x.mp4", "is not a folder"),
        ("{tmp}/missing/x.mp4", "folder {tmp}/missing does not exist"),
    ],
)
def test_a_file_that_cannot_be_written_fails_at_initialize(tmp_path, target, reason):
    (tmp_path / "x.mp4").mkdir()
    (tmp_path / "file.txt").write_text("")
    target, reason = target.format(tmp=tmp_path), reason.format(tmp=tmp_path)
    for make in (
        lambda: StreamConfig.create(target),  # a file as the stream destination
        lambda: StreamConfig.create(URL, record=target),  # --record
        lambda: VideoAudioRecorder().initialize(target, video_source="testsrc"),  # ionia record
    ):
        with pytest.raises(ConfigError, match=re.escape(reason)):
            make()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt", "x.mp4"]


def test_the_write_probe_leaves_nothing_behind_and_keeps_an_existing_file(tmp_path):
    StreamConfig.create(str(tmp_path / "new.mp4"))
    assert not any(tmp_path.iterdir())
    existing = tmp_path / "old.mkv"
    existing.write_bytes(b"keep me")
    StreamConfig.create(URL, record=str(existing))
    assert existing.read_bytes() == b"keep me"
    assert [p.name for p in tmp_path.iterdir()] == ["old.mkv"]


# -- TLS ----------------------------------------------------------------------------------------


def test_insecure_rtmps_warns_once(caplog):
    caplog.set_level("WARNING", logger="ionia")
    StreamConfig.create(["rtmps://a.example/app/SECRETKEY", "rtmps://b.example/app/K2"],
                        tls_verify=False)  # fmt: skip
    warnings = [r for r in caplog.records if "verification is off" in r.getMessage()]
    assert [r.getMessage() for r in warnings] == [
        "TLS certificate verification is off (--insecure): the connection can be intercepted"
    ]
    assert warnings[0].name == "ionia" and warnings[0].levelname == "WARNING"
    caplog.clear()
    StreamConfig.create("rtmps://a.example/app/SECRETKEY")  # verifying: no warning
    StreamConfig.create(URL, tls_verify=False)  # plain rtmp: no TLS to verify
    assert "verification is off" not in caplog.text


# -- the encoder's message when x264 itself refuses ----------------------------------------------


def test_x264_refusing_its_preset_lists_the_presets_instead_of_suggesting_x264():
    settings = VideoEncoderSettings(
        width=320, height=240, fps=30, bitrate=1_000_000, encoder="x264", preset="bogus"
    )
    with pytest.raises(EncoderError) as info:
        VideoEncoder(settings).open()
    message = str(info.value)
    assert "--encoder x264" not in message
    assert "check --preset 'bogus': x264 presets are ultrafast, superfast, veryfast" in message


def test_destinations_of_the_wrong_type_name_the_setting(tmp_path):
    assert StreamConfig.create(tmp_path / "out.mp4").destination.path == tmp_path / "out.mp4"
    assert StreamConfig.create(URL, record=tmp_path / "rec.mkv").record is not None
    with pytest.raises(ConfigError, match="rtmp_url must be a URL, a file path or a list"):
        StreamConfig.create(None)
    with pytest.raises(ConfigError, match="a destination must be an rtmp"):
        StreamConfig.create([URL, 5])


def test_codec_and_its_preset_are_checked_once():
    assert StreamConfig.create(URL).encoding.codec == "h264"
    hevc = StreamConfig.create(URL, codec="hevc").encoding
    assert (hevc.codec, hevc.preset, hevc.fallback_to_h264) == ("hevc", "ultrafast", False)
    av1 = StreamConfig.create(URL, codec="av1", preset="12", fallback_to_h264=True).encoding
    assert (av1.codec, av1.preset, av1.fallback_to_h264) == ("av1", "12", True)
    with pytest.raises(ConfigError, match="codec 'vp9' is not one of h264, hevc, av1"):
        StreamConfig.create(URL, codec="vp9")
    with pytest.raises(ConfigError, match="preset 'veryfast' is not a av1 preset: use one of 13"):
        StreamConfig.create(URL, codec="av1", preset="veryfast")
    with pytest.raises(ConfigError, match="is not an x264 preset"):
        StreamConfig.create(URL, preset="10")
    assert StreamConfig.create(URL, codec="hevc", encoder="x265", use_nvenc=False)
