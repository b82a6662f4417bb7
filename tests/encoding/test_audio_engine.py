import itertools
import threading

import numpy as np

from ionia.capture.base import SAMPLE_RATE
from ionia.capture.testsrc import ToneSource
from ionia.clock import MasterClock
from ionia.encoding.audio import AAC_FRAME, AudioEncoder, AudioEngine


def test_aac_config_is_lc_48k_stereo():
    encoder = AudioEncoder(128_000)
    encoder.open()
    # AudioSpecificConfig: object type 2 (LC), frequency index 3 (48 kHz), 2 channels
    assert encoder.extradata[:2] == bytes([0x11, 0x90])


def test_priming_packet_is_not_sent_and_timestamps_follow_samples():
    encoder = AudioEncoder(128_000)
    encoder.open()
    tone = ToneSource()
    packets = []
    for k in range(10):
        packets += encoder.encode(tone.read(k * AAC_FRAME, AAC_FRAME), k * AAC_FRAME, 0.0)
    assert packets[0].pts_ms == 0
    assert [p.pts_ms for p in packets[:3]] == [0, 21, 43]
    assert all(b.pts_ms > a.pts_ms for a, b in itertools.pairwise(packets))


def test_tone_beeps_at_the_start_of_each_second():
    tone = ToneSource()
    second = tone.read(SAMPLE_RATE - 10, 4810)
    assert np.abs(second[:10]).max() == 0  # silence just before the second
    assert np.abs(second[10:4810]).max() > 0.4  # the beep right after
    assert np.abs(tone.read(SAMPLE_RATE + 4800, 100)).max() == 0  # 100 ms later: silence


def test_engine_produces_exactly_the_elapsed_samples():
    clock = MasterClock()
    encoder = AudioEncoder(128_000)
    encoder.open()
    packets = []
    errors = []
    enough = threading.Event()

    def deliver(packet):
        packets.append(packet)
        if len(packets) >= 60:
            enough.set()

    engine = AudioEngine(ToneSource(), [encoder], clock, deliver, errors.append)
    clock.start()
    engine.start()
    assert enough.wait(5)
    due = clock.now() * SAMPLE_RATE
    produced = engine.samples_produced
    engine.stop()
    assert not errors
    # never ahead of the clock, and never more than one AAC frame (+ a wake-up) behind
    assert produced <= due
    assert due - produced < 2 * AAC_FRAME


def test_opus_packets_are_20_ms_decodable_and_tagged():
    import av

    encoder = AudioEncoder(128_000, "opus")
    encoder.open()
    tone = ToneSource()
    packets = []
    for k in range(20):
        packets += encoder.encode(tone.read(k * AAC_FRAME, AAC_FRAME), k * AAC_FRAME, 0.0)
    assert packets and all(p.codec == "opus" for p in packets)
    # PyAV re-chunks the 1024-sample frames into Opus's 20 ms
    assert {b.pts_ms - a.pts_ms for a, b in itertools.pairwise(packets)} == {20}
    assert packets[0].pts_ms >= 0  # the priming packet is left out, as AAC's
    decoder = av.CodecContext.create("libopus", "r")
    samples = sum(f.samples for p in packets for f in decoder.decode(av.Packet(p.data)))
    assert samples == 960 * len(packets)
