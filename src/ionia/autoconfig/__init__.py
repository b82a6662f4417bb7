"""``ionia autoconfig``: an uplink test and the settings it proposes (like OBS's wizard)."""

from ionia.autoconfig.proposal import Proposal, propose
from ionia.autoconfig.uplink import UplinkResult, UplinkTest, measure_uplink

__all__ = ["Proposal", "UplinkResult", "UplinkTest", "measure_uplink", "propose"]
