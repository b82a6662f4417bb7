"""The dashboard in a real headless Chromium (Debian's chromium + chromium-driver, driven by
Selenium with the driver's path given: nothing is downloaded), against ``ionia serve``
streaming to nginx-rtmp: the numbers move, Stop stops the stream.

The screenshot goes to ``build/dashboard.png``, or to ``$IONIA_DASHBOARD_SCREENSHOT``
(``IONIA_DASHBOARD_SCREENSHOT=docs/dashboard.png`` renews the README's).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
KEY = "sEcReT-browser-key"


@pytest.fixture
def browser(tmp_path: Path):
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.fail("chromium and chromium-driver are not installed: `make test` installs them")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--window-size=1280,1000",
                 f"--user-data-dir={tmp_path / 'chromium-profile'}"):  # fmt: skip
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def test_the_dashboard_shows_the_stream_live_and_stops_it(nginx_rtmp, ionia_serve, browser):
    ingest = nginx_rtmp(on_publish_key=KEY)
    serve = ionia_serve()
    client = serve.client
    settings = {"rtmp_url": ingest.url(KEY), "video_source": "testsrc", "audio_mode": "tone",
                "size": "640x360", "video_bitrate": "1500k"}  # fmt: skip
    assert client.post("/api/v1/configure", settings).status == 200
    assert client.post("/api/v1/start").status == 200

    browser.get(f"{client.base_url}/?token={client.token}")
    wait = WebDriverWait(browser, 10)
    wait.until(lambda d: d.find_element(By.ID, "state").text == "running")
    assert client.token not in browser.current_url  # traded for the cookie, out of history
    sent = browser.find_element(By.ID, "bytes-sent")
    seen: set[str] = set()

    def moved(_driver: object) -> bool:
        seen.add(sent.text)
        return len(seen - {"–"}) >= 3  # three different figures: it moves

    wait.until(moved)
    assert float(browser.find_element(By.ID, "fps").text) > 10
    light = browser.find_element(By.CSS_SELECTOR, "#destinations tbody .light")
    assert light.get_attribute("class") in ("light green", "light yellow")
    time.sleep(2.0)  # let the charts fill a little for the screenshot
    shot = Path(os.environ.get("IONIA_DASHBOARD_SCREENSHOT", ROOT / "build" / "dashboard.png"))
    shot.parent.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(shot))
    logs = browser.get_log("browser")
    assert not [e for e in logs if e["level"] == "SEVERE"], logs  # no script errors, no CSP

    browser.find_element(By.ID, "stop").click()
    wait.until(lambda d: d.find_element(By.ID, "state").text == "stopped")
    assert client.get("/api/v1/status").json()["state"] == "stopped"
    assert KEY not in browser.page_source and client.token not in browser.page_source
