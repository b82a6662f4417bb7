import pytest

from ionia.config import StreamConfig, parse_bitrate, parse_size
from ionia.errors import ConfigError

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
        ({"keyint": 0}, "keyframe interval"),
        ({"buffer_ms": 10}, "buffer too small"),
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
        ({"system_gain": 99}, "system gain 99.0 dB is out of range"),
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
    with pytest.raises(ConfigError, match="system gain must be a number of dB"):
        StreamConfig.create(URL, audio_mode="system", system_gain="loud")
