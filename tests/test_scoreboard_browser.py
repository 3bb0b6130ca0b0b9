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
from tests.procs import ServerProcess, serving_web
from tests.services import free_port
from tests.test_e2e import win_by_bisection

IP = re.compile(r"\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b")


def text_of(driver: object, element_id: str) -> str:
    return str(driver.find_element(By.ID, element_id).text)  # type: ignore[attr-defined]


def open_browser(tmp_path: Path, certs: Path, server: ServerProcess) -> tuple[Any, Any]:
    """Chromium trusting the test CA, and its driver; without Chromium the server is stopped
    and the test skipped (failed when the suite requires every service, as CI does)."""
    try:
        browser = chromium(tmp_path / "profile", certs / "server.pem")
        return browser, browser.__enter__()
    except services.MissingService as exc:
        server.stop()
        if os.environ.get("GUESSNET_REQUIRE_SERVICES"):
            pytest.fail(str(exc))
        pytest.skip(str(exc))


def inner_width_is(width: int) -> Callable[[Any], bool]:
    return lambda driver: bool(driver.execute_script("return window.innerWidth") == width)


@pytest.mark.timeout(120)
def test_scoreboard_follows_the_game_and_survives_a_restart(tmp_path: Path,
                                                            certs: Path) -> None:
    ports = ("--port", str(free_port()), "--admin-port", str(free_port()),
             "--web-port", str(free_port()))
    web = f"https://127.0.0.1:{ports[5]}/"
    server = ServerProcess(tmp_path / "srv", certs, *ports).start()
    browser, driver = open_browser(tmp_path, certs, server)
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


# Every block that spills its content, every cut name without its whole self on hover, every
# two rooms (or sections) that overlap, and the page's size: [] when the page fits.
MEASURE = """
const problems = [];
const d = document.documentElement;
if (d.scrollWidth > innerWidth + 1 || d.scrollHeight > innerHeight + 1)
  problems.push(`page is ${d.scrollWidth}x${d.scrollHeight} in ${innerWidth}x${innerHeight}`);
for (const node of document.querySelectorAll("body *")) {
  const style = getComputedStyle(node);
  if (style.display === "inline" || style.display === "none") continue;
  if (node.scrollWidth > node.clientWidth + 1 && style.overflowX === "visible")
    problems.push(`spills: <${node.tagName} class="${node.className}"> ${node.textContent}`);
}
for (const node of document.querySelectorAll(".name"))
  if (node.scrollWidth > node.clientWidth + 1 && !node.textContent.startsWith(node.title))
    problems.push(`cut, and not whole on hover: ${node.textContent}`);
for (const selector of [".card", "main > section"]) {
  const rects = [...document.querySelectorAll(selector)].map((n) => n.getBoundingClientRect());
  rects.forEach((a, i) => rects.slice(i + 1).forEach((b) => {
    if (a.left < b.right - 1 && b.left < a.right - 1 && a.top < b.bottom - 1 &&
        b.top < a.bottom - 1) problems.push(`${selector} overlap`);
  }));
}
return problems;
"""

LONG = "Abcdefghijklmnopqr"  # + two digits: a name of 20 characters, the longest allowed


@pytest.mark.timeout(180)
def test_the_longest_names_fit_the_projector_and_the_phone(tmp_path: Path,
                                                           certs: Path) -> None:
    server = serving_web(tmp_path / "srv", certs)
    web = f"https://127.0.0.1:{server.web_port}/"
    peers = []
    browser, driver = open_browser(tmp_path, certs, server)
    try:
        for i in range(3):  # ranked: accounts that won a single-player game
            peer = server.peer()
            peer.hello()
            peer.request(protocol.Register(name=f"{LONG}{i:02d}", password="correct-horse"),
                         protocol.Identified)
            peer.request(protocol.Play(mode="single"), protocol.RoundStarted)
            win_by_bisection(peer)
            peers.append(peer)
        for i in range(24):  # three rooms of eight, every name the longest allowed
            peer = server.peer(f"{LONG}{i + 10:02d}")
            peer.request(protocol.Play(mode="multi", room=f"Roomnamesixteen{i % 3:05d}"),
                         protocol.RoundStarted)
            peers.append(peer)
        for peer in peers[:2]:
            peer.request(protocol.Play(mode="tictactoe"), protocol.Board)
        driver.get(web)
        wait = WebDriverWait(driver, 10, poll_frequency=0.05)
        wait.until(lambda d: text_of(d, "status") == "live")
        for width, height in ((1280, 720), (390, 844)):  # a projector, a phone
            driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
                "width": width, "height": height, "deviceScaleFactor": 1,
                "mobile": width < 500})
            wait.until(inner_width_is(width))
            driver.execute_script("render(lastState)")  # fitted to this size
            assert driver.execute_script(MEASURE) == [], width
            driver.save_screenshot(str(tmp_path / f"scoreboard-{width}x{height}.png"))
            names = driver.find_elements(By.CSS_SELECTOR, "#rooms .name")
            assert names and all(n.get_attribute("title") for n in names)
        driver.get(f"{web}join")
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": 1280, "height": 720, "deviceScaleFactor": 1, "mobile": False})
        wait.until(inner_width_is(1280))
        cut = driver.execute_script(  # every command a student copies is shown whole
            "return [...document.querySelectorAll('pre, code')].filter("
            "(n) => n.scrollWidth > n.clientWidth + 1).map((n) => n.textContent)")
        assert cut == []
        below = driver.execute_script(  # and on the first screen, each on a line or two
            "return [...document.querySelectorAll('pre')].filter((n) => "
            "n.getBoundingClientRect().bottom > innerHeight || "
            "n.getBoundingClientRect().height > 3.5 * parseFloat(getComputedStyle(n).fontSize))"
            ".map((n) => n.textContent)")
        assert below == []
        driver.save_screenshot(str(tmp_path / "join-1280x720.png"))
    finally:
        browser.__exit__(None, None, None)
        for peer in peers:
            peer.close()
        server.stop()
