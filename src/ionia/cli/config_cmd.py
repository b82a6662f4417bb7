"""``--config FILE`` applied to the command line, and ``ionia config check FILE``."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from ionia.cli import exitcodes
from ionia.cli.config_file import load_config_file

__all__ = ["run_check", "stream_parser", "with_config_file"]


def stream_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    for action in parser._actions:  # argparse names no public way to a subcommand's parser
        if isinstance(action, argparse._SubParsersAction):
            found: argparse.ArgumentParser = action.choices["stream"]
            return found
    raise LookupError("the ionia parser has no stream command")


def with_config_file(
    parser: argparse.ArgumentParser, argv: Sequence[str] | None, path: Path
) -> argparse.Namespace:
    """The command line parsed again over the file's values: what it gives still wins."""
    stream = stream_parser(parser)
    config_file = load_config_file(path, stream)
    stream.set_defaults(**config_file.defaults)
    args = parser.parse_args(argv)
    args.config_file = config_file
    return args


def run_check(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Everything ``ionia stream --config FILE`` would check before starting, and nothing
    opened: a ``ConfigError`` (exit 2) names what is wrong."""
    from ionia.cli.stream import configure

    stream_args = with_config_file(parser, ["stream", "--config", str(args.file)], args.file)
    streamer, _ = configure(stream_args)
    config = streamer.config
    where = ", ".join(d.display for d in config.destinations) or "no stream"
    service = f" ({config.service})" if config.service else ""
    print(
        f"{args.file}: OK — {where}{service}; {config.video_source} + {config.audio_mode}, "
        f"{config.fps} fps, video {config.video_bitrate // 1000}k, "
        f"audio {config.audio_bitrate // 1000}k, keyint {config.encoding.keyint_s:g} s"
    )
    return exitcodes.OK
