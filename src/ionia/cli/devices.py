"""``ionia devices``: list screens, monitors and audio devices with the names to use."""

from __future__ import annotations

import argparse

from ionia.capture.devices import format_devices, list_devices


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--display", default=None, help="X display to list (default: $DISPLAY)")


def run(args: argparse.Namespace) -> int:
    devices = list_devices(getattr(args, "display", None))
    print(format_devices(devices))
    return 0
