"""The scoreboard in a real browser: live without reloading, back by itself after a restart."""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import zxingcpp
from PIL import Image
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

import protocol
from bench import services
from bench.browser import chromium
from tests.procs import ServerProcess
from tests.services import free_port
from tests.test_e2e import win_by_bisection

IP = re.compile(r"\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b")


def text_of(driver: object, element_id: str) -> str:
    return str(driver.find_element(By.ID, element_id).text)  # type: ignore[attr-defined]


def inner_width_is(width: int) -> Callable[[Any], bool]:
    return lambda driver: bool(driver.execute_script("return window.innerWidth") == width)


@pytest.mark.timeout(120)
def test_scoreboard_follows_the_game_and_survives_a_restart(tmp_path: Path,
                                                            certs: Path) -> None:
    ports = ("--port", str(free_port()), "--admin-port", str(free_port()),
             "--web-port", str(free_port()))
    web = f"https://127.0.0.1:{ports[5]}/"
    server = ServerProcess(tmp_path / "srv", certs, *ports).start()
    try:
        browser = chromium(tmp_path / "profile", certs / "server.pem")
        driver = browser.__enter__()
    except services.MissingService as exc:
        server.stop()
        if os.environ.get("GUESSNET_REQUIRE_SERVICES"):
            pytest.fail(str(exc))
        pytest.skip(str(exc))
    try:
        driver.get(web)
        wait = WebDriverWait(driver, 10, poll_frequency=0.05)
        wait.until(lambda d: text_of(d, "status") == "live")
        driver.execute_script("window.stillTheSamePage = true;")
        ann, bob = server.peer("ann"), server.peer("bob")
        for peer in (ann, bob):
            peer.request(protocol.Play(mode="multi"), protocol.RoundStarted)
        wait.until(lambda d: "ann" in text_of(d, "rooms") and "bob" in text_of(d, "rooms"))
        assert "round 1" in text_of(driver, "rooms")
        win_by_bisection(ann)
        won = time.monotonic()
        WebDriverWait(driver, 1.0, poll_frequency=0.02).until(
            lambda d: "round 2" in text_of(d, "rooms") and "ann won" in text_of(d, "rounds"))
        assert time.monotonic() - won < 1.0
        assert "the number was" in text_of(driver, "rounds")
        assert driver.execute_script("return window.stillTheSamePage === true")  # no reload
        for width, height in ((1280, 720), (390, 844)):  # a projector, a phone
            driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
                "width": width, "height": height, "deviceScaleFactor": 1,
                "mobile": width < 500})
            wait.until(inner_width_is(width))
            # one screen: no scrollbar either way
            assert driver.execute_script(
                "const d = document.documentElement; return d.scrollWidth <= innerWidth + 1 "
                "&& d.scrollHeight <= innerHeight + 1")
            driver.save_screenshot(str(tmp_path / f"scoreboard-{width}.png"))
        shot = tmp_path / "scoreboard-1280.png"
        assert shot.stat().st_size > 10_000
        # the join box's QR code, read off the 1280x720 screenshot, is the join page's URL
        assert [r.text for r in zxingcpp.read_barcodes(Image.open(shot))] == \
            [f"{web}join"]
        page = str(driver.find_element(By.TAG_NAME, "body").text)
        # the only address on the page is the server's own, in its join box
        assert set(IP.findall(page)) == {"127.0.0.1"} and "token" not in page.lower()
        assert "127.0.0.1" in text_of(driver, "join")
        for peer in (ann, bob):
            peer.close()

        server.stop(signal.SIGTERM)  # the host restarts the server
        wait.until(lambda d: text_of(d, "status") != "live")
        server = ServerProcess(tmp_path / "srv", certs, *ports).start()
        carol = server.peer("carol")
        carol.request(protocol.Play(mode="multi", room="after"), protocol.RoundStarted)
        WebDriverWait(driver, 15, poll_frequency=0.1).until(
            lambda d: text_of(d, "status") == "live" and "after" in text_of(d, "rooms"))
        assert driver.execute_script("return window.stillTheSamePage === true")
        assert "ann won" in text_of(driver, "rounds")  # the stored history came back too
        carol.close()
    finally:
        browser.__exit__(None, None, None)
        server.stop()
