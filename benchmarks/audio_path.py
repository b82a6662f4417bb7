"""The capture side of the audio thread: what the drift buffer costs per engine block.

Each of the 47 blocks a second that the AudioEngine pulls (1024 samples, stereo float32)
goes through a device's ``DriftBuffer``: a write of what the device delivered, a read of
exactly what the engine is due. Before the dead band, every read was a Catmull-Rom
resampling in NumPy, even at a ratio of exactly 1 (a device on the engine's clock, as
PulseAudio's monitor is); with it, a fill within ``dead_band_ms`` of the target is handed
out as a copy. Measured here: CPU per block (``time.process_time``), for a device on the
engine's clock ("now": the copy) and the same device with the dead band set to 0 ("before":
the resampling every block), and for a device 0.1 % fast (resampling either way, as it
must be).

    python benchmarks/audio_path.py [--blocks 3000] [--rounds 5] [--no-doc]
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time
from pathlib import Path

import _common as common
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from ionia.capture.drift import DriftBuffer, DriftConfig  # noqa: E402

DOC = ROOT / "docs" / "performance.md"
SKELETON = (
    "# Performance\n\n<!-- BEGIN audio-path (generated: do not edit) -->\n<!-- END audio-path -->\n"
)
BLOCK = 1024


def cpu_us_per_block(config: DriftConfig, skew: float, blocks: int) -> float:
    """A device at ``(1 + skew) × 48 kHz`` writing 10 ms periods, the engine reading blocks."""
    buffer = DriftBuffer(config)
    rng = np.random.default_rng(1)
    period = 480
    audio = (rng.random((period, 2), dtype=np.float32) - 0.5) * 0.5
    device_rate, written = 48_000 * (1 + skew), 0
    warm = 200  # the controller settles (and the buffer primes) before the clock starts
    started = 0.0
    for k in range(warm + blocks):
        if k == warm:
            started = time.process_time()
        now = (k + 1) * BLOCK / 48_000
        while (written + period) / device_rate <= now:
            buffer.write(audio)
            written += period
        buffer.read(BLOCK)
    return (time.process_time() - started) / blocks * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--blocks", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-doc", action="store_true")
    args = parser.parse_args()
    cases = [
        ("same clock as the engine, dead band 0 (before)", DriftConfig(dead_band_ms=0.0), 0.0),
        ("same clock as the engine, dead band 2 ms (now)", DriftConfig(), 0.0),
        ("0.1 % fast device, dead band 2 ms (resampled: it must be)", DriftConfig(), 0.001),
    ]
    rows = []
    for label, config, skew in cases:
        runs = [cpu_us_per_block(config, skew, args.blocks) for _ in range(args.rounds)]
        med = statistics.median(runs)
        rows.append([
            label, f"{med:.1f} ({min(runs):.1f}–{max(runs):.1f})",
            f"{med * 48_000 / BLOCK / 1000:.2f}",
            f"{med * 48_000 / BLOCK / 1e6 / 30 * 1000:.3f}",
        ])  # fmt: skip
        print(rows[-1])
    table = common.markdown_table(
        [
            "device",
            "CPU µs per block (median, min–max)",
            "CPU ms per second",
            "ms per frame at 30 fps",
        ],
        rows,
    )
    text = (
        f"Drift buffer write + read per 1024-sample block, {args.blocks} blocks × "
        f"{args.rounds} rounds (`python benchmarks/audio_path.py`, "
        f"{dt.date.today().isoformat()}):\n\n{table}"
    )
    print(text)
    if not args.no_doc:
        common.replace_block(DOC, "audio-path", text, SKELETON)


if __name__ == "__main__":
    main()
