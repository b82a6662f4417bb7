"""Fixture registry. Fixtures live in ``tests/fixtures/<topic>.py``; import them here.

Keep this file thin: one import line per fixture module, names listed in ``__all__``.
"""

from tests.fixtures.bad_servers import bad_server
from tests.fixtures.control import ionia_serve
from tests.fixtures.desktop import pulse, screen_painter, xvfb, xvfb_server
from tests.fixtures.disks import small_disk
from tests.fixtures.flv import flv_clip
from tests.fixtures.grace_server import grace_server
from tests.fixtures.hostile_server import hostile_server
from tests.fixtures.nginx import ffmpeg_listen, nginx_rtmp
from tests.fixtures.proxy import fault_proxy
from tests.fixtures.reliability import reliability_row
from tests.fixtures.udp_proxy import udp_proxy
from tests.fixtures.whip_quirks import quirky_whip
from tests.fixtures.whip_server import whip_server

__all__ = [
    "bad_server",
    "fault_proxy",
    "ffmpeg_listen",
    "flv_clip",
    "grace_server",
    "hostile_server",
    "ionia_serve",
    "nginx_rtmp",
    "pulse",
    "quirky_whip",
    "reliability_row",
    "screen_painter",
    "small_disk",
    "udp_proxy",
    "whip_server",
    "xvfb",
    "xvfb_server",
]
