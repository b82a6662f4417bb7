from ionia.output.receiver_rate import ReceiverRate
from ionia.whip.feedback import Feedback


def report(n: int, loss: float, estimate: int | None = None) -> Feedback:
    return Feedback(
        rtt_ms=5, loss=loss, nacks=0, keyframe_requests=0, estimate_bps=estimate, reports=n
    )


def test_heavy_loss_cuts_by_half_the_loss_once_per_report():
    rate = ReceiverRate(start=2_000_000, floor=300_000, ceiling=2_000_000)
    assert rate.update(report(1, 0.5)) == 1_500_000
    assert rate.update(report(1, 0.5)) == 1_500_000  # the same report: no second cut
    assert rate.update(report(2, 0.5)) == 1_125_000


def test_little_loss_grows_5_percent_up_to_the_ceiling_and_some_loss_holds():
    rate = ReceiverRate(start=1_000_000, floor=300_000, ceiling=1_100_000)
    assert rate.update(report(1, 0.0)) == 1_050_000
    assert rate.update(report(2, 0.05)) == 1_050_000
    assert rate.update(report(3, 0.01)) == 1_100_000
    assert rate.update(report(4, 0.0)) == 1_100_000


def test_the_receivers_estimate_caps_and_the_floor_holds():
    rate = ReceiverRate(start=2_000_000, floor=300_000, ceiling=2_000_000)
    assert rate.update(report(1, 0.05, estimate=800_000)) == 800_000
    assert rate.update(report(2, 0.05, estimate=100_000)) == 300_000
    for n in range(3, 30):
        rate.update(report(n, 0.9))
    assert rate.update(report(30, 0.9)) == 300_000
