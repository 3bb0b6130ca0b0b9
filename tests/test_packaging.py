"""The installable client: a wheel with every module and the three console commands.

A player on another machine installs the package (from the repository or a built wheel) and
runs ``guessnet-play``; nothing of the repository itself must be needed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.conftest import ROOT

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
