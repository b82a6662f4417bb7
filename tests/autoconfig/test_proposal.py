"""From a measured link to settings: the bitrate rule, the picture ladder, the service's
limits and this machine's speed; and the file ``--write`` makes."""

from __future__ import annotations

from ionia.autoconfig import UplinkResult, propose
from ionia.autoconfig.proposal import MARGIN, OVERHEAD
from ionia.cli.autoconfig import write_proposal
from ionia.services import find_service
from tests.fixtures.cli import run_ionia_here

AUDIO = 160_000


def result(link_bps: float, *, saturated: bool = True, cpu_load: float = 0.3,
           in_time: float = 1.0) -> UplinkResult:  # fmt: skip
    return UplinkResult(
        link_bps=link_bps, saturated=saturated, ramp=(), window=(0.0, 1.0), encoder="libx264",
        frames_in_time=in_time, cpu_load=cpu_load, seconds=5.0,
    )  # fmt: skip


def test_the_bitrate_leaves_room_for_audio_overhead_and_bursts():
    for link in (800_000, 1_500_000, 4_000_000, 12_000_000):
        p = propose(result(link), audio_bitrate=AUDIO)
        room = link - AUDIO - OVERHEAD * link
        assert 0.75 * room <= p.video_bitrate <= room, (link, p)
        assert p.video_bitrate <= MARGIN * link - AUDIO


def test_the_picture_follows_the_bitrate_and_the_service():
    assert propose(result(1_500_000), audio_bitrate=AUDIO).size == (640, 360)
    assert propose(result(4_000_000), audio_bitrate=AUDIO).size == (1280, 720)
    big = propose(result(20_000_000, cpu_load=0.05), audio_bitrate=AUDIO, cpus=4)
    assert (big.size, big.fps) == ((1920, 1080), 60)
    # Twitch caps the bitrate at 6000k and audio at 320k; Facebook's sizes and 128k audio
    twitch = propose(result(20_000_000, cpu_load=0.05), audio_bitrate=AUDIO, cpus=4,
                     limits=find_service("twitch").limits)  # fmt: skip
    assert twitch.video_bitrate == 6_000_000 and (twitch.size, twitch.fps) == ((1920, 1080), 30)
    fb = propose(result(3_000_000), audio_bitrate=AUDIO, limits=find_service("facebook").limits)
    assert fb.audio_bitrate == 128_000


def test_a_slow_machine_gets_a_smaller_picture():
    # 0.35 CPU for the 720p30 test: 1080p60 would need 1.6 CPUs, 1080p30 0.8
    fast_link = result(20_000_000, cpu_load=0.35)
    assert propose(fast_link, audio_bitrate=AUDIO, cpus=1).size == (1280, 720)
    assert propose(fast_link, audio_bitrate=AUDIO, cpus=2).size == (1920, 1080)
    late = result(20_000_000, in_time=0.7)  # the test itself was late: nothing bigger
    assert propose(late, audio_bitrate=AUDIO, cpus=8).size == (1280, 720)


def test_an_unsaturated_link_says_it_may_carry_more():
    p = propose(result(8_000_000, saturated=False), audio_bitrate=AUDIO)
    assert any("may carry more" in r for r in p.reasons)


def test_the_written_file_is_a_config_that_checks(tmp_path, monkeypatch):
    monkeypatch.setenv("STREAM_KEY", "live_1234_AbCd")
    path = tmp_path / "stream.toml"
    write_proposal(path, propose(result(4_000_000), audio_bitrate=AUDIO), service="twitch")
    text = path.read_text()
    assert 'service = "twitch"' in text and "live_1234" not in text
    checked = run_ionia_here("config", "check", str(path))
    assert checked.returncode == 0, checked.stderr
    assert "OK — rtmp://live.twitch.tv/app/**** (twitch)" in checked.stdout
