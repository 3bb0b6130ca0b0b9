"""The benchmark cannot rot: every scenario runs at tiny sizes (figures are not asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT


@pytest.mark.timeout(300)
def test_every_scenario_runs_and_writes_results(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bench.run", "--quick", "--repeat", "1", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=280, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    for name in ("human", "saturate", "fanout", "connect", "scaleout"):
        data = json.loads((tmp_path / f"{name}.json").read_text())
        assert data, name
    for png in ("human_latency.png", "human_resources.png", "saturate.png", "fanout.png",
                "connect_resources.png", "scaleout.png"):
        assert (tmp_path / png).read_bytes().startswith(b"\x89PNG"), png
    report = (tmp_path / "report.md").read_text()
    assert "### human" in report and "### scaleout" in report and "Machine:" in report
    assert "cores" in report
