"""System and microphone capture from a real PulseAudio server with null sinks."""

from __future__ import annotations

import logging
import re

import numpy as np
import pytest

from ionia.capture.audio_devices import DeviceAudioSource, create_audio_source
from ionia.capture.devices import format_devices, list_devices
from ionia.capture.mixer import MixedAudioSource
from ionia.capture.pulse import PulseBackend
from ionia.cli import devices as devices_cli
from tests.capture.audio_helpers import peaks, pull
from tests.fixtures.desktop import PulseServer

pytestmark = [pytest.mark.capture, pytest.mark.timeout(20)]

# a null sink starts delivering only once its current (up to 2 s) block is rendered
CONNECT_TIMEOUT = 5.0


def test_system_tone_comes_back_at_440hz(pulse: PulseServer) -> None:
    source = DeviceAudioSource("system")
    source.open()
    try:
        assert source.wait_connected(CONNECT_TIMEOUT)
        assert source.current_device == "ionia_system.monitor"
        pulse.play_tone(pulse.SYSTEM_SINK, 440, 5)
        samples = pull(source, 2.0)[-48000:]
        assert samples.dtype == np.float32 and samples.shape == (48000, 2)
        assert np.max(np.abs(samples)) > 0.2
        assert abs(peaks(samples)[0] - 440) < 3
    finally:
        source.close()


def test_mic_is_the_default_source(pulse: PulseServer) -> None:
    source = DeviceAudioSource("mic")
    source.open()
    try:
        assert source.wait_connected(CONNECT_TIMEOUT)
        assert source.current_device == "ionia_mic.monitor"
        pulse.play_tone(pulse.MIC_SINK, 880, 5)
        assert abs(peaks(pull(source, 2.0)[-48000:])[0] - 880) < 3
    finally:
        source.close()


def test_audio_device_by_name_substring(pulse: PulseServer) -> None:
    # by description, case-insensitive; a loopback may stand in for a microphone
    source = DeviceAudioSource("mic", "ionia_MIC")
    source.open()
    try:
        assert source.wait_connected(CONNECT_TIMEOUT)
        assert source.current_device == "ionia_mic.monitor"
    finally:
        source.close()


def test_missing_device_warns_gives_silence_and_comes_back(
    pulse: PulseServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="ionia.capture")
    source = DeviceAudioSource("system", "late_sink", reopen_interval=0.2)
    source.open()
    try:
        silence = pull(source, 0.5)
        assert not silence.any()
        assert any("unavailable" in r.getMessage() for r in caplog.records)
        pulse.pactl("load-module", "module-null-sink", "sink_name=late_sink")
        assert source.wait_connected(CONNECT_TIMEOUT)
        pulse.play_tone("late_sink", 660, 5)
        assert abs(peaks(pull(source, 2.0)[-48000:])[0] - 660) < 3
    finally:
        source.close()


def test_device_disappearing_mid_stream(
    pulse: PulseServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="ionia.capture")
    module = pulse.pactl("load-module", "module-null-sink", "sink_name=usb_headset")
    source = DeviceAudioSource("mic", "usb_headset", reopen_interval=0.2)
    source.open()
    try:
        assert source.wait_connected(CONNECT_TIMEOUT)
        pulse.play_tone("usb_headset", 440, 5)
        assert np.abs(pull(source, 1.5)[-24000:]).max() > 0.2
        pulse.pactl("unload-module", module)
        # the stream goes on: silence (not the default source it was moved to), a warning
        pulse.play_tone(pulse.MIC_SINK, 880, 5)
        after = pull(source, 1.5)[-24000:]
        assert not after.any()
        assert any("lost" in r.getMessage() for r in caplog.records)
        assert source.current_device is None
    finally:
        source.close()


def test_no_sound_server_at_all(monkeypatch: pytest.MonkeyPatch, tmp_path, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="ionia.capture")
    monkeypatch.setenv("PULSE_SERVER", f"unix:{tmp_path}/nothing.sock")
    source = create_audio_source("both")
    assert isinstance(source, MixedAudioSource)
    source.open()
    try:
        block = source.read(0, 1024)
        assert block.shape == (1024, 2) and not block.any()
        pull(source, 0.3)
        assert any("unavailable" in r.getMessage() for r in caplog.records)
    finally:
        source.close()


def test_list_devices_names_loopbacks_and_defaults(
    pulse: PulseServer, capsys: pytest.CaptureFixture
) -> None:
    pulse.pactl("load-module", "module-null-sink", "sink_name=other")
    devices = list_devices(display=":4711", backend=PulseBackend())
    by_id = {d.id: d for d in devices.audio}
    assert by_id["ionia_system.monitor"].kind == "loopback"
    assert by_id["ionia_system.monitor"].default  # the monitor of the default sink
    assert by_id["ionia_mic.monitor"].default  # the default source
    assert not by_id["other.monitor"].default
    assert by_id["ionia_mic.monitor"].description == "Monitor of Ionia_Mic"
    assert any(":4711" in p for p in devices.problems)  # no such display: said, not raised
    text = format_devices(devices)
    assert re.search(r"ionia_system\.monitor .*\[default\]", text)

    class Args:
        display = ":4711"

    assert devices_cli.run(Args()) == 0
    assert "ionia_mic.monitor" in capsys.readouterr().out
