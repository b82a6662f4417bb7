"""Why Ionia's WHIP output is aiortc and not FFmpeg's ``whip`` muxer: the measurement.

One aiortc WHIP endpoint on loopback (the tests' ``WhipServer``, through ``_whip_viewer``),
three publishers, each a child process sending the same few seconds of H.264 + Opus
(SIZE at FPS, libx264 Constrained Baseline, a keyframe every KEYINT_S, BITRATE; Opus 48 kHz
stereo), with a bearer token:

* **ffmpeg-default**: PyAV's bundled FFmpeg, ``format="whip"``, only ``strict=experimental``
  and the token. The wheel's FFmpeg (8.1, GnuTLS) makes its DTLS certificate on P-224, which
  OpenSSL (aiortc's pyOpenSSL) refuses: expected to fail. The endpoint's certificate
  verify callback notes the curve of the certificate it was shown.
* **ffmpeg-p256**: the same with ``cert_file``/``key_file`` of a P-256 certificate made with
  ``cryptography`` in a temporary directory, and ``whip_flags=dtls_active`` (FFmpeg is the
  DTLS client: in passive mode whip.c drops the first ClientHello and waits a retransmit).
* **ionia**: ``VideoAudioStreamer`` with ``video_source="testsrc"``, ``audio_mode="tone"``,
  ``whip_token``: Ionia's own aiortc client.

Per publisher: whether DTLS connected; setup, from the endpoint reading the POST to aiortc's
connection state "connected" (ICE + DTLS), and to the first decoded picture; pictures seen
on the wire and decoded by aiortc, Opus frames decoded, decode errors; and, with ``--pli``
(default on), the endpoint sends a PLI at PLI_AT seconds after the first video packet and
notes how long until a picture carrying an IDR arrived (FFmpeg's muxer ignores PLI: its next
IDR is the encoder's GOP, up to KEYINT_S later).

    python benchmarks/whip_stack.py [--seconds 4] [--no-pli] [--no-doc]
"""

from __future__ import annotations

import argparse
import datetime
import fractions
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _common as common
import _desktop as desk  # the repository root on sys.path (tests.fixtures)

DOC = desk.ROOT / "docs" / "whip.md"
SKELETON = "# WHIP\n\n<!-- BEGIN whip-stack (generated: do not edit) -->\n<!-- END whip-stack -->\n"
#: the endpoint's bearer token (handed to the children in $WHIP_TOKEN, not on a command line)
TOKEN = "whip-stack-bench-token"
SIZE, FPS, BITRATE, KEYINT_S = (640, 360), 30, "1500k", 2
#: seconds after the first video packet at which the endpoint sends a PLI
PLI_AT = (0.7, 2.3)
PUBLISHERS = ("ffmpeg-default", "ffmpeg-p256", "ionia")
LABELS = {
    "ffmpeg-default": "FFmpeg `whip` muxer, default options",
    "ffmpeg-p256": "FFmpeg `whip` muxer, P-256 cert_file/key_file, whip_flags=dtls_active",
    "ionia": "Ionia (aiortc client)",
}


# -- the publishers (child processes) -------------------------------------------------------


def publish_ffmpeg(url: str, seconds: float, options: dict[str, str]) -> dict:
    """H.264 + Opus through FFmpeg's whip muxer, paced in real time; what happened."""
    import av.logging

    av.logging.set_level(av.logging.ERROR)  # FFmpeg's own error lines, to say why it failed
    opts = {"strict": "experimental", "authorization": os.environ["WHIP_TOKEN"], **options}
    out: dict = {"started": time.monotonic()}
    with av.logging.Capture() as logs:
        try:
            mux_whip(url, opts, seconds, out)
            out["ok"] = True
        except Exception as e:  # the result to report, not a crash of the benchmark
            why = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
            out |= {"ok": False, "error": f"{type(e).__name__}: {why}"}
    out["ffmpeg_log"] = [f"[{name}] {text.strip()}" for _, name, text in logs][-6:]
    out["ended"] = time.monotonic()
    return out


def mux_whip(url: str, opts: dict[str, str], seconds: float, out: dict) -> None:
    import av
    import numpy as np

    width, height = SIZE
    container = av.open(url, "w", format="whip", options=opts)
    video = container.add_stream("libx264", rate=FPS)
    video.width, video.height, video.pix_fmt = width, height, "yuv420p"
    video.bit_rate = int(BITRATE.removesuffix("k")) * 1000
    gop = str(KEYINT_S * FPS)
    video.options = {"preset": "veryfast", "tune": "zerolatency", "profile": "baseline",
                     "bf": "0", "g": gop, "keyint_min": gop, "sc_threshold": "0"}  # fmt: skip
    audio = container.add_stream("libopus", rate=48000)
    audio.layout = "stereo"
    audio.bit_rate = 96000
    yuv = np.full((height * 3 // 2, width), 128, np.uint8)  # I420: Y, then U and V
    y = yuv[:height]
    tone = (np.sin(2 * np.pi * 440 * np.arange(960) / 48000) * 8000).astype(np.int16)
    pcm = np.repeat(tone, 2).reshape(1, -1)
    start = time.monotonic()
    n_audio = 0
    for i in range(int(seconds * FPS)):
        y[:] = 16 + (i * 4) % 200
        y[:, (i * 8) % width] = 235
        frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
        frame.pts, frame.time_base = i, fractions.Fraction(1, FPS)
        for packet in video.encode(frame):
            container.mux(packet)  # the first one POSTs and connects (blocking)
            out.setdefault("first_mux_done", time.monotonic())
        while n_audio * 960 <= (i + 1) * 48000 / FPS:  # 20 ms Opus frames, kept abreast
            chunk = av.AudioFrame.from_ndarray(pcm, format="s16", layout="stereo")
            chunk.sample_rate, chunk.pts = 48000, n_audio * 960
            chunk.time_base = fractions.Fraction(1, 48000)
            for packet in audio.encode(chunk):
                container.mux(packet)
            n_audio += 1
        time.sleep(max(0.0, start + (i + 1) / FPS - time.monotonic()))
    for stream in (video, audio):
        for packet in stream.encode(None):
            container.mux(packet)
    container.close()


def publish_ionia(url: str, seconds: float) -> dict:
    from ionia import VideoAudioStreamer

    out: dict = {"started": time.monotonic()}
    streamer = VideoAudioStreamer()
    try:
        streamer.initialize(
            url, fps=FPS, video_bitrate=BITRATE, audio_mode="tone", video_source="testsrc",
            size=f"{SIZE[0]}x{SIZE[1]}", keyint=KEYINT_S, whip_token=os.environ["WHIP_TOKEN"],
        )  # fmt: skip
        with streamer:
            ended_early = streamer.wait(seconds)
        stats = streamer.get_statistics()
        dest = stats["destinations"][0]
        out |= {"ok": not ended_early, "error": str(streamer.error) if ended_early else None,
                "keyframe_requests": dest.get("keyframe_requests"),
                "video_packets_sent": dest.get("video_packets_sent")}  # fmt: skip
    except Exception as e:
        out |= {"ok": False, "error": f"{type(e).__name__}: {e}"}
    out["ended"] = time.monotonic()
    return out


# -- the endpoint's side --------------------------------------------------------------------


def note_peer_curves(found: list[str]) -> None:
    """Have aiortc's DTLS contexts append the curve of every peer certificate to ``found``.

    aiortc accepts any certificate in its verify callback (it checks the SDP fingerprint
    afterwards); this one does the same after noting the key. OpenSSL calls it before it
    refuses a P-224 key, so the curve is known even when the handshake fails.
    """
    from aiortc.rtcdtlstransport import RTCCertificate
    from OpenSSL import SSL

    create = RTCCertificate._create_ssl_context

    def verify(conn, cert, errno, depth, ok) -> bool:  # type: ignore[no-untyped-def]
        key = cert.to_cryptography().public_key()
        curve = getattr(getattr(key, "curve", None), "name", None)
        found.append(curve or type(key).__name__)
        return True

    def patched(self, srtp_profiles):  # type: ignore[no-untyped-def]
        ctx = create(self, srtp_profiles)
        ctx.set_verify(SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT, verify)
        return ctx

    RTCCertificate._create_ssl_context = patched  # type: ignore[method-assign]


def p256_cert(directory: Path) -> tuple[Path, Path]:
    """A self-signed ECDSA P-256 certificate and its key (PEM, PKCS8) in ``directory``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "ionia-whip-bench")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30)).sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_path, key_path = directory / "p256.crt", directory / "p256.key"
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))  # fmt: skip
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


def worker_argv(kind: str, url: str, seconds: float, options: dict[str, str]) -> list[str]:
    return [sys.executable, __file__, "--worker", kind, url, str(seconds), json.dumps(options)]


def one_case(name: str, args: argparse.Namespace, tmp: Path, curves: list[str]) -> dict:
    from _whip_viewer import WhipViewer

    options: dict[str, str] = {}
    if name == "ffmpeg-p256":
        cert, key = p256_cert(tmp)
        options = {"cert_file": str(cert), "key_file": str(key), "whip_flags": "dtls_active"}
    curves.clear()
    viewer = WhipViewer(token=TOKEN).start()
    plis: list[float] = []
    try:
        kind = "ionia" if name == "ionia" else "ffmpeg"
        proc = subprocess.Popen(worker_argv(kind, viewer.url, args.seconds, options),
                                env={**os.environ, "WHIP_TOKEN": TOKEN}, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)  # fmt: skip
        if args.pli:
            plis = send_plis(viewer, proc)
        stdout, stderr = proc.communicate(timeout=args.seconds + 30)
        session = viewer.sessions[0] if viewer.sessions else None
        if session is not None:
            session.wait_for(lambda s: s.closed, 3)
    finally:
        viewer.stop()
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    client = json.loads(lines[-1]) if lines else {"ok": False, "error": stderr[-600:]}
    shown = {k: Path(v).name if k.endswith("_file") else v for k, v in options.items()}
    result: dict = {"publisher": name, "options": shown, "client": client, "rc": proc.returncode,
                    "peer_curves": sorted(set(curves)), "posted": session is not None}  # fmt: skip
    if session is None:
        return result
    pics = viewer.pictures(session)
    connected = viewer.connected_at(session)
    video, audio = session.video_frames, session.audio_frames
    keyframes = pics.keyframes()
    result |= {
        "states": [s for _, s in viewer.states.get(session.id, [])],
        "connected": connected is not None,
        "setup_ms": None if connected is None else 1000 * (connected - session.created),
        "first_picture_ms": 1000 * (video[0].arrival - session.created) if video else None,
        "pictures_on_wire": len(pics.order),
        "pictures_decoded": len(video),
        "audio_decoded": len(audio),
        "decode_errors": session.decode_errors,
        "rtcp_sent": dict(session.rtcp_sent),
        "deleted": session.deleted,
        "keyframes_ms": [round(1000 * (k - pics.packets[pics.order[0]][0]), 1) for k in keyframes],
        "pli_ms": [pli_answer(t, keyframes) for t in plis],
        "pli_at_ms": [round(1000 * (t - pics.packets[pics.order[0]][0]), 1) for t in plis],
    }
    return result


def send_plis(viewer, proc: subprocess.Popen) -> list[float]:  # type: ignore[no-untyped-def]
    """PLIs at PLI_AT s after the first video packet (while the publisher lives)."""
    first = None
    while first is None and proc.poll() is None:
        time.sleep(0.02)
        session = viewer.sessions[0] if viewer.sessions else None
        pics = viewer.pictures(session) if session is not None else None
        if pics is not None and pics.order:
            first = pics.packets[pics.order[0]][0]
    sent = []
    for at in PLI_AT if first is not None else ():
        time.sleep(max(0.0, first + at - time.monotonic()))
        if proc.poll() is not None:
            break
        sent.append(viewer.request_keyframe(session))
    return sent


def pli_answer(sent: float, keyframes: list[float]) -> float | None:
    """ms from a PLI to the first packet of the next picture carrying an IDR (None: none)."""
    after = [k for k in keyframes if k > sent]
    return round(1000 * (after[0] - sent), 1) if after else None


# -- the table ------------------------------------------------------------------------------


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f}"


def table(results: list[dict], args: argparse.Namespace) -> str:
    rows = []
    expected = int(args.seconds * FPS)
    for r in results:
        client = r["client"]
        if not r.get("connected"):
            why = client.get("error") or "did not connect"
            if client.get("ffmpeg_log"):
                why += f" ({client['ffmpeg_log'][-1]})"
            dtls = f"**no**: {why}".replace("|", "/").replace("\n", " ")[:160]
        else:
            dtls = "yes"
        curve = ", ".join(r["peer_curves"]) or "n/a"
        pli = "n/a (not connected)" if not r.get("connected") else ", ".join(
            "none by the end" if v is None else f"{v:.0f}" for v in r.get("pli_ms", [])
        ) or "n/a"  # fmt: skip
        rows.append([
            LABELS[r["publisher"]], dtls, curve, _ms(r.get("setup_ms")),
            _ms(r.get("first_picture_ms")),
            f"{r.get('pictures_on_wire', 0)} / {r.get('pictures_decoded', 0)} of {expected}",
            str(r.get("audio_decoded", 0)), str(r.get("decode_errors", "n/a")), pli,
        ])  # fmt: skip
    plis_at = ", ".join(f"{a:g}" for a in PLI_AT)
    header = ["publisher", "DTLS connected", "its certificate's curve (seen by aiortc)",
              "setup ms: POST → connected", "POST → first decoded picture ms",
              "pictures on the wire / decoded", "Opus frames decoded", "decode errors",
              f"PLI → next IDR arrives, ms (PLIs at {plis_at} s)"]  # fmt: skip
    return common.markdown_table(header, rows)


def block(args: argparse.Namespace, tab: str, results: list[dict]) -> str:
    import aiortc
    import av

    command = " ".join(["python", "benchmarks/whip_stack.py", *sys.argv[1:]])
    raw = "\n".join(json.dumps(r) for r in results)
    return f"""\
Generated by `{command}` on {time.strftime("%Y-%m-%d %H:%M %Z")}, on {common.cpu_model()}:
one run of each, so a few tens of ms of setup are noise; {args.load}.
Endpoint: the tests' aiortc `WhipServer` on 127.0.0.1 (aiortc {aiortc.__version__}), bearer
token. Each publisher sends {args.seconds:g} s of
{SIZE[0]}x{SIZE[1]}@{FPS} H.264 Constrained Baseline at {BITRATE}, a keyframe every
{KEYINT_S} s, with Opus; FFmpeg is PyAV {av.__version__}'s bundled {av.ffmpeg_version_info}
(its own libx264 and libopus, paced in real time), Ionia is `VideoAudioStreamer` with
`testsrc` and `tone`. Setup is from the endpoint reading the POST to aiortc's connection state
"connected"; a PLI is answered when a picture carrying an IDR arrives ("none by the end": no
IDR came before the stream ended; FFmpeg's keyframes come only from its GOP, every {KEYINT_S} s,
and its first mux blocks while it connects, so its wire timeline starts a few frames late).

{tab}

<details><summary>Every run</summary>

```
{raw}
```
</details>"""


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=4.0, help="stream length (default 4)")
    p.add_argument("--publishers", default=",".join(PUBLISHERS), help="comma-separated")
    p.add_argument("--no-pli", dest="pli", action="store_false", help="send no PLI")
    p.add_argument("--no-doc", action="store_true", help=f"do not rewrite {DOC.name}")
    p.add_argument("--doc", type=Path, default=DOC)
    p.add_argument("--worker", choices=["ffmpeg", "ionia"], help=argparse.SUPPRESS)
    p.add_argument("rest", nargs="*", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        url, seconds, options = args.rest[0], float(args.rest[1]), json.loads(args.rest[2])
        if args.worker == "ffmpeg":
            print(json.dumps(publish_ffmpeg(url, seconds, options)), flush=True)
        else:
            print(json.dumps(publish_ionia(url, seconds)), flush=True)
        return
    curves: list[str] = []
    note_peer_curves(curves)
    results = []
    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="ionia-whip-stack-") as tmp:
        for name in args.publishers.split(","):
            results.append(one_case(name, args, Path(tmp), curves))
            shown = {k: v for k, v in results[-1].items() if k not in ("options",)}
            print("  " + json.dumps(shown), file=sys.stderr, flush=True)
    args.load = common.load_note(load)
    tab = table(results, args)
    print(tab)
    print(args.load, file=sys.stderr)
    if not args.no_doc:
        common.replace_block(args.doc, "whip-stack", block(args, tab, results), SKELETON)
        print(f"written to {args.doc}", file=sys.stderr)


if __name__ == "__main__":
    main()
