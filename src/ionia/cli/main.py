"""The ``ionia`` command: stream, receive, demo, encoders, devices."""

from __future__ import annotations

import argparse
import logging
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

from ionia import __version__
from ionia.cli import arguments, autoconfig, config_cmd, exitcodes, serve, services, stream, tools
from ionia.cli.run import report_error
from ionia.errors import IoniaError
from ionia.redact import RedactingFormatter, redact

log = logging.getLogger("ionia.cli")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ionia",
        description="Stream the desktop and its audio live to YouTube, Twitch or any RTMP(S) "
        "ingest.",
        epilog="exit codes: 0 ok, 1 a bug in ionia, 2 bad usage/config, 3 connection failed, "
        "4 publish rejected, 5 encoder/capture failure, 6 recording failed, "
        "130 interrupted (Ctrl-C), 143 terminated (SIGTERM)",
    )
    parser.add_argument("--version", action="version", version=f"ionia {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging")
    parser.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("stream", help="stream live to an RTMP(S) URL (or a file)")
    arguments.add_stream_arguments(p)
    serve.add_control_arguments(p, for_stream=True)
    p.set_defaults(run=stream.run)
    p = sub.add_parser("record", help="record the screen and audio to a file")
    arguments.add_record_arguments(p)
    p.set_defaults(run=stream.run_record)
    p = sub.add_parser("serve", help="the engine as a local service: control API, dashboard")
    serve.add_control_arguments(p)
    p.set_defaults(run=serve.run)
    p = sub.add_parser("receive", help="a local RTMP ingest that records what it gets")
    tools.add_receive_arguments(p)
    p.set_defaults(run=tools.run_receive)
    p = sub.add_parser("demo", help="stream a test pattern to a local receiver and check it")
    tools.add_demo_arguments(p)
    p.set_defaults(run=tools.run_demo)
    p = sub.add_parser("encoders", help="which H.264 encoders this machine has and which open")
    p.set_defaults(run=tools.run_encoders)
    p = sub.add_parser("devices", help="screens, monitors and audio devices to capture from")
    p.set_defaults(run=_run_devices)
    p = sub.add_parser("services", help="the live services --service knows, with their limits")
    p.set_defaults(run=services.run)
    p = sub.add_parser("autoconfig", help="test the uplink and propose settings (OBS's wizard)")
    autoconfig.add_arguments(p)
    p.set_defaults(run=autoconfig.run)
    p = sub.add_parser("config", help="check a --config file without streaming")
    config_sub = p.add_subparsers(dest="config_command", required=True, metavar="ACTION")
    check = config_sub.add_parser("check", help="validate FILE as `ionia stream --config FILE`")
    check.add_argument("file", type=Path)
    check.set_defaults(run=lambda args: config_cmd.run_check(args, build_parser()))
    return parser


def _run_devices(args: argparse.Namespace) -> int:
    from ionia.cli import devices

    return devices.run(args)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING if args.quiet else (logging.DEBUG if args.verbose else logging.INFO)
    handler = logging.StreamHandler()
    # every line, tracebacks and other libraries' messages included, with keys masked
    handler.setFormatter(RedactingFormatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler])
    try:
        if getattr(args, "config", None) is not None:
            args = config_cmd.with_config_file(parser, argv, args.config)
        return int(args.run(args))
    except IoniaError as exc:
        report_error(exc)
        return exitcodes.for_error(exc)
    except KeyboardInterrupt:
        return exitcodes.INTERRUPTED
    except Exception as exc:
        print(f"ionia: internal error: {redact(f'{type(exc).__name__}: {exc}')}", file=sys.stderr)
        if args.verbose:
            print(redact(traceback.format_exc()), file=sys.stderr)
        return exitcodes.FAILURE


if __name__ == "__main__":
    sys.exit(main())
