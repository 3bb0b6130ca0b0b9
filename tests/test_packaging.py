"""The installable client: a wheel with every module and the three console commands.

A player on another machine installs the package (from the repository or a built wheel) and
runs ``guessnet-play``; nothing of the repository itself must be needed.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

from tests.conftest import ROOT, Running
from tests.services import free_port
from tests.web import get

COMMANDS = ("guessnet-server", "guessnet-play", "guessnet-admin")


def test_the_wheel_installs_commands_that_run_without_the_repository(tmp_path: Path) -> None:
    source = tmp_path / "source"  # a copy, so the build leaves the checkout untouched
    files = [ROOT / "pyproject.toml", ROOT / "README.md", *ROOT.glob("*.py")]
    for folder in ("guessnet",):
        files += [path for path in (ROOT / folder).rglob("*")
                  if path.is_file() and "__pycache__" not in path.parts]
    for path in files:
        copy = source / path.relative_to(ROOT)
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_bytes(path.read_bytes())
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path / "dist"), str(source)],
        capture_output=True, text=True, timeout=180)
    assert built.returncode == 0, built.stderr
    [wheel] = list((tmp_path / "dist").glob("guessnet-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    for module in ("guessnet/wire/codec.py", "guessnet/client/play.py",
                   "guessnet/sessions/features/accounts.py", "guessnet/games/guess.py",
                   "guessnet/storage/sqlite.py", "guessnet/web/assets/index.html",
                   "guessnet/web/assets/app.js", "guessnet/web/assets/style.css"):
        assert module in names, module
    # one package: nothing else at the top of site-packages
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"guessnet"}, tops
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert all(command in text for command in COMMANDS)
    site = tmp_path / "site"
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site),
         str(wheel)], capture_output=True, text=True, timeout=180)
    assert installed.returncode == 0, installed.stderr
    env = dict(os.environ, PYTHONPATH=str(site))  # the runtime libraries come from this venv
    for command in COMMANDS:
        ran = subprocess.run([sys.executable, str(site / "bin" / command), "--help"],
                             cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
        assert ran.returncode == 0 and "--host" in ran.stdout, (command, ran.stderr)


def test_the_join_pages_client_plays_with_nothing_installed(make_server: Callable[..., Running],
                                                            tmp_path: Path) -> None:
    """A student's path from the join page alone: the one-file client and ca.pem, run by a
    Python with no site-packages at all (``-I -S``), plays a round."""
    port = free_port()
    srv = make_server("--web-port", str(port))
    ca = srv.certs / "ca.pem"
    status, headers, pyz = get(port, "/guessnet-play.pyz", ca)
    assert status == 200 and 'filename="guessnet-play.pyz"' in headers["Content-Disposition"]
    page = get(port, "/join", ca)[2].decode()
    assert hashlib.sha256(pyz).hexdigest() in page
    assert f"guessnet-play.pyz --host 127.0.0.1 --port {srv.port} --cafile ca.pem" in page
    (tmp_path / "guessnet-play.pyz").write_bytes(pyz)
    (tmp_path / "ca.pem").write_bytes(get(port, "/ca.pem", ca)[2])
    ran = subprocess.run(
        [sys.executable, "-I", "-S", "guessnet-play.pyz", "--host", "127.0.0.1", "--port",
         str(srv.port), "--cafile", "ca.pem", "--log-dir", str(tmp_path / "logs")],
        input=f"zoe\n1\n{srv.secrets.value}\nexit\n/q\n", cwd=tmp_path, capture_output=True,
        text=True, timeout=60)
    assert ran.returncode == 0 and "Traceback" not in ran.stderr, ran.stderr
    assert "Correct!" in ran.stdout and "You left the game." in ran.stdout
    with zipfile.ZipFile(tmp_path / "guessnet-play.pyz") as bundle:
        names = bundle.namelist()
    assert not [n for n in names if n.startswith(("guessnet/sessions/", "guessnet/storage/",
                                                  "guessnet/launch/", "cryptography/"))]


def test_a_bad_ca_file_is_one_line(tmp_path: Path) -> None:
    for content in (b"", b"<!doctype html><p>the join page, saved by mistake</p>"):
        bad = tmp_path / "ca.pem"
        bad.write_bytes(content)
        ran = subprocess.run([sys.executable, str(ROOT / "pclient.py"), "--cafile", str(bad),
                              "--log-dir", str(tmp_path / "logs")], input="",
                             capture_output=True, text=True, timeout=30)
        assert ran.returncode == 1 and "Traceback" not in ran.stderr
        assert ran.stderr.strip().count("\n") == 0 and "is not a CA certificate" in ran.stderr
