"""PNG plots (matplotlib, no display needed) and the Markdown report of a benchmark run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from tabulate import tabulate

TARGETS = {
    "human": "3,000 players in one process, none dropped, guess p99 < 50 ms, RSS < 1 GiB; "
             "rooms of 50: 3,000 players, p99 < 50 ms",
    "burst": "3,000 players arriving within 10 s all admitted",
    "saturate": "at C = 50: >= 0.8 of the bare reference server measured in the same run",
    "fanout": "1,000 members: the last one told of a round end < 100 ms after the winning "
              "guess (p99)",
    "connect": ">= 800 new TLS sessions a second with 16 connecting clients, as many with "
               "sessions held",
    "workers": "--workers 2: 5,000 players, none dropped, guess p99 < 50 ms",
}


def _save(fig: Any, out: Path, name: str) -> str:
    fig.tight_layout()
    fig.savefig(out / name, dpi=110)
    plt.close(fig)
    return name


def draw_all(results: dict[str, Any], out: Path) -> list[str]:
    drawn = []
    if "human" in results:
        drawn += _human(results["human"], out)
    if "saturate" in results:
        drawn.append(_saturate(results["saturate"], out))
    if "fanout" in results:
        drawn.append(_fanout(results["fanout"], out))
    if "workers" in results:
        drawn.append(_resources(results["workers"]["series"], out, "workers_resources.png",
                                f"--workers {results['workers']['workers']} at "
                                f"{_f(results['workers']['players'], 0)} players (all processes)"))
    return drawn


def _human(rows: list[dict[str, Any]], out: Path) -> list[str]:
    fig, ax = plt.subplots(figsize=(7, 4))
    for mode in dict.fromkeys(r["mode"] for r in rows):
        # a size where players could not even join is not a latency figure: left out
        mine = [r for r in rows if r["mode"] == mode and r["errors"] <= r["players"] // 100]
        xs = [r["players"] for r in mine]
        for q, style in (("p50", ":"), ("p95", "--"), ("p99", "-")):
            ax.plot(xs, [r[f"{q}_ms"] for r in mine], style, marker="o", label=f"{mode} {q}")
    ax.axhline(50, color="red", linewidth=0.8, label="target p99 50 ms")
    ax.set(xlabel="connected players", ylabel="guess round trip (ms)", yscale="log",
           title="human: one guess a second per player (sizes that held)")
    ax.legend(fontsize=7)
    names = [_save(fig, out, "human_latency.png")]
    biggest = max(rows, key=lambda r: (r["players"], r["mode"] == "single"))
    names.append(_resources(biggest["series"], out, "human_resources.png",
                            f"server at {_f(biggest['players'], 0)} players ({biggest['mode']})"))
    return names


def _resources(series: dict[str, list[float]], out: Path, name: str, title: str) -> str:
    """CPU and RSS over time, like psrecord."""
    fig, cpu_ax = plt.subplots(figsize=(7, 3.5))
    cpu_ax.plot(series["t"], series["cpu"], color="tab:red")
    cpu_ax.set(xlabel="seconds", ylabel="CPU % (of one core)", title=title)
    rss_ax = cpu_ax.twinx()
    rss_ax.plot(series["t"], series["rss"], color="tab:blue")
    rss_ax.set_ylabel("RSS (MiB)", color="tab:blue")
    return _save(fig, out, name)


def _saturate(rows: list[dict[str, Any]], out: Path) -> str:
    fig, ax = plt.subplots(figsize=(7, 4))
    labels = [f"{r['clients']} ({r.get('rules', 'endless')})" for r in rows]
    xs = range(len(rows))
    ax.bar([x - 0.2 for x in xs], [r["guessnet"]["per_s"] for r in rows], 0.4,
           label="guessnet server.py")
    ax.bar([x + 0.2 for x in xs], [r["reference"]["per_s"] for r in rows], 0.4,
           label="bare-protocol reference")
    ax.set_xticks(list(xs), labels)
    ax.set(xlabel="concurrent clients", ylabel="answers per second",
           title="saturate: guesses as fast as answers come back")
    ax.legend()
    return _save(fig, out, "saturate.png")


def _fanout(rows: list[dict[str, Any]], out: Path) -> str:
    fig, ax = plt.subplots(figsize=(6, 3.5))
    labels = ["with a slow reader" if r["slow_reader"] else "all reading" for r in rows]
    xs = range(len(rows))
    ax.bar([x - 0.2 for x in xs], [r["e2e_p50_ms"] for r in rows], 0.4, label="p50")
    ax.bar([x + 0.2 for x in xs], [r["e2e_p99_ms"] for r in rows], 0.4, label="p99")
    ax.axhline(100, color="red", linewidth=0.8, label="target p99 100 ms")
    ax.set_xticks(list(xs), labels)
    ax.set(ylabel="ms", title=f"fanout: winning guess to the last of {rows[0]['members']:,}")
    ax.legend(fontsize=7)
    return _save(fig, out, "fanout.png")


def failure_lines(rows: list[dict[str, Any]]) -> list[str]:
    """One line a reason players failed to join, per row: with ``--repeat`` the count is the
    median of the runs (a half where two runs differ) with their range."""
    lines = []
    for row in rows:
        failures = row.get("failures") or {}
        for why, count in failures.items():
            if not count or why.endswith(("_min", "_max")):
                continue
            low, high = failures.get(why + "_min"), failures.get(why + "_max")
            spread = f" (median; {low:,}-{high:,} in the runs)" if low is not None else ""
            lines.append(f"- {row['mode']}, {_f(row['players'], 0)} players: "
                         f"{_f(count, 0 if count == int(count) else 1)} x {why}{spread}")
    return lines


def headline_lines(rows: list[dict[str, Any]]) -> list[str]:
    """The capacity headline and the paired CPU ratios of the human rows.  With ``--repeat`` a
    row's player count is a median (a float), printed whole by ``_f``."""
    holds = {mode: max((r["players"] for r in rows if r["mode"] == mode
                        and r["p99_ms"] < 50 and not r["errors"]), default=0)
             for mode in ("single", "reference")}
    ratio = holds["single"] / holds["reference"] if holds["reference"] else 0.0
    lines = [f"Headline: largest N (single) with p99 under 50 ms and none dropped: "
             f"**{_f(holds['single'], 0)}**; the reference in the same run: "
             f"{_f(holds['reference'], 0)} (capacity ratio {ratio:.2f}, at the sizes run).", ""]
    paired = [f"{_f(r['players'], 0)}: **{r['cpu_ratio']:.2f}**" + (
              f" ({r['cpu_ratio_min']:.2f}-{r['cpu_ratio_max']:.2f})"
              if "cpu_ratio_min" in r else "")
              for r in rows if r["mode"] == "single" and "cpu_ratio" in r]
    if paired:
        lines += ["Server CPU a guess over the reference's, single players, each run "
                  "against the reference's run of the same repetition (median, range): "
                  + "; ".join(paired) + ".", ""]
    return lines


def _f(value: float, digits: int = 1) -> str:
    return f"{value:,.{digits}f}"


def _range(figures: dict[str, Any], key: str) -> str:
    """``min - max`` of a repeated figure, when the runs recorded them."""
    if f"{key}_min" not in figures:
        return ""
    return f"{_f(figures[key + '_min'], 0)} - {_f(figures[key + '_max'], 0)}"


def _cpu(row: dict[str, Any], server: str, client: str) -> list[str]:
    return [_f(row[server], 0), _f(row[client], 0)]


def report(results: dict[str, Any], figures: list[str]) -> str:
    m = results["machine"]
    lines = [f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, Python "
             f"{m['python']}, {m['system']}; {m['date']}.", "",
             f"Command: `{results['command']}`", ""]
    if "human" in results:
        lines += ["### human", f"Target: {TARGETS['human']}.", ""]
        if any(r.get("rules") == "endless" for r in results["human"]):
            lines += ["Rules: endless on both servers (the command's `--endless`: saturate's "
                      "rules), so a round ends every twenty guesses or so, not every three.", ""]
        lines += [_human_table(results["human"]), ""]
        lines += headline_lines(results["human"])
    if "burst" in results:
        b = results["burst"]
        lines += ["### burst", f"Target: {TARGETS['burst']}.", "", tabulate(
            [[b["players"], _f(b["window_s"], 0), b["admitted"], b["failed"],
              _f(b["admit_p50_ms"]), _f(b["admit_p99_ms"]), _f(b["admit_max_ms"])]],
            headers=["players", "within s", "admitted", "failed", "time to admit p50 ms",
                     "p99 ms", "max ms"], tablefmt="github"), ""]
    if "saturate" in results:
        rows = []
        for r in results["saturate"]:
            g, ref = r["guessnet"], r["reference"]
            rows.append([r.get("rules", "endless"), r["clients"], _f(g["per_s"], 0),
                         _f(g["p50_ms"], 2), _f(g["p99_ms"], 2),
                         *_cpu(g, "server_cpu_per_request_us", "client_cpu_per_request_us"),
                         _f(ref["per_s"], 0), _f(ref["p99_ms"], 2),
                         *_cpu(ref, "server_cpu_per_request_us", "client_cpu_per_request_us"),
                         _f(r["ratio"], 2)])
        lines += ["### saturate", f"Target: {TARGETS['saturate']}.", "", tabulate(
            rows, headers=["rules", "clients", "guessnet /s", "p50 ms", "p99 ms",
                           "server CPU us/req", "generator CPU us/req", "reference /s",
                           "ref p99 ms", "ref server CPU us/req",
                           "ref generator CPU us/req", "ratio"],
            tablefmt="github"), ""]
    if "fanout" in results:
        lines += ["### fanout", f"Target: {TARGETS['fanout']}.", "", tabulate(
            [["yes" if r["slow_reader"] else "no", r["members"], r["rounds"],
              _f(r["e2e_p50_ms"]), _f(r["e2e_p99_ms"]), _f(r["server_cpu_s"], 2),
              _f(r["client_cpu_s"], 2)] for r in results["fanout"]],
            headers=["slow reader", "members", "rounds", "last member p50 ms", "p99 ms",
                     "server CPU s", "generator CPU s"], tablefmt="github"), ""]
    if "connect" in results:
        c = results["connect"]
        lines += ["### connect", f"Target: {TARGETS['connect']}.", "", tabulate(
            [[held, _f(rate, 0), _f(c["server_cpu_per_session_us"][held], 0),
              _f(c["rss_per_connection_kib"].get(held, 0.0), 0) if held != "0" else "-"]
             for held, rate in c["per_s"].items() if not held.endswith(("_min", "_max"))],
            headers=["sessions held", "new sessions /s (16 clients)", "server CPU us/session",
                     "RSS per held session KiB"], tablefmt="github"), ""]
    if "workers" in results:
        lines += ["### workers", f"Target: {TARGETS['workers']}.", "",
                  _human_table([results["workers"]]), ""]
    failures = failure_lines([*results.get("human", []),
                              *([results["workers"]] if "workers" in results else [])])
    if failures:
        lines += ["Why players failed to join (the generator's first distinct messages):", "",
                  *failures, ""]
    lines += ["Plots: " + ", ".join(f"`{f}`" for f in figures), ""]
    return "\n".join(lines)


def _human_table(rows: list[dict[str, Any]]) -> str:
    return tabulate(
        [[r["mode"], r["players"], r["admitted"], r["dropped"], _f(r["admit_p99_ms"]),
          _f(r["p50_ms"]), _f(r["p95_ms"]), _f(r["p99_ms"]),
          _f(r.get("p99_ms_min", r["p99_ms"])) + " - " + _f(r.get("p99_ms_max", r["p99_ms"])),
          " / ".join(_f(ms, 0) for ms in r.get("p99_by_slice_ms", [])),
          _f(r["rate_per_s"], 0),
          *_cpu(r, "server_cpu_per_guess_us", "client_cpu_per_guess_us"),
          _f(r["cpu_max"], 0), _f(r["rss_max_mib"], 0)] for r in rows],
        headers=["mode", "players", "admitted", "dropped", "admit p99 ms", "p50 ms", "p95 ms",
                 "p99 ms", "p99 min-max", "p99 ms by 5 s of the window", "guesses/s",
                 "server CPU us/guess", "generator CPU us/guess", "CPU % max", "RSS MiB max"],
        tablefmt="github")
