"""PNG plots (matplotlib, no display needed) and the Markdown report of a benchmark run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from tabulate import tabulate

TARGETS = {
    "human": "5,000 players in one process, guess p99 < 50 ms, RSS < 1 GiB",
    "saturate": "at C = 50: >= 0.8 of the bare-protocol ceiling, p99 < 10 ms",
    "fanout": "1,000 members: server-side < 20 ms, end-to-end p99 < 100 ms, slow reader or not",
    "connect": ">= 1,000 new TLS sessions a second with 16 connecting clients",
    "scaleout": "round end across processes: p99 < 20 ms more than within one process",
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
    if "connect" in results:
        drawn.append(_resources(results["connect"]["series"], out, "connect_resources.png",
                                "server during connect / hold 1,000 and 5,000"))
    if "scaleout" in results:
        drawn.append(_scaleout(results["scaleout"], out))
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
                            f"server at {biggest['players']} players ({biggest['mode']})"))
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
    labels = [str(r["clients"]) for r in rows]
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
    fig, ax = plt.subplots(figsize=(7, 4))
    for row in rows:
        tag = "with a slow reader" if row["slow_reader"] else "all reading"
        ax.plot(row["e2e_ms"], marker="o", label=f"end to end, {tag}")
        ax.plot(row["server_ms"], marker=".", linestyle=":", label=f"server side, {tag}")
    ax.set(xlabel="round", ylabel="ms", title=f"fanout: round end to {rows[0]['members']} members")
    ax.legend(fontsize=7)
    return _save(fig, out, "fanout.png")


def _scaleout(result: dict[str, Any], out: Path) -> str:
    fig, (lat, rate) = plt.subplots(1, 2, figsize=(8, 3.5))
    labels = ["one process", "two processes"]
    lat.bar(labels, [result[k]["round_end_p99_ms"] for k in labels])
    lat.set(ylabel="ms", title="round end p99 (farthest member)")
    rate.bar(labels, [result[k]["guesses_per_s"] for k in labels], color="tab:green")
    rate.set(ylabel="guesses / s", title="room guesses, saturated")
    return _save(fig, out, "scaleout.png")


def _f(value: float, digits: int = 1) -> str:
    return f"{value:,.{digits}f}"


def _range(figures: dict[str, Any], key: str) -> str:
    """``min - max`` of a repeated figure, when the runs recorded them."""
    if f"{key}_min" not in figures:
        return ""
    return f"{_f(figures[key + '_min'], 0)} - {_f(figures[key + '_max'], 0)}"


def report(results: dict[str, Any], figures: list[str]) -> str:
    m = results["machine"]
    lines = [f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, Python "
             f"{m['python']}, {m['system']}; {m['date']}.", "",
             f"Command: `{results['command']}`", ""]
    if "human" in results:
        lines += ["### human", f"Target: {TARGETS['human']}.", "", tabulate(
            [[r["mode"], r["players"], _f(r["p50_ms"]), _f(r["p95_ms"]), _f(r["p99_ms"]),
              _f(r.get("p99_ms_min", r["p99_ms"])) + " - " + _f(r.get("p99_ms_max", r["p99_ms"])),
              _f(r["rate_per_s"], 0), _f(r["cpu_max"], 0), _f(r["rss_max_mib"], 0), r["errors"]]
             for r in results["human"]],
            headers=["mode", "players", "p50 ms", "p95 ms", "p99 ms", "p99 min-max",
                     "guesses/s", "CPU % max", "RSS MiB max", "errors"], tablefmt="github"),
            ""]
        holding = [r["players"] for r in results["human"] if r["p99_ms"] < 50 and not r["errors"]]
        lines += [f"Headline: largest N with p99 under 50 ms: **{max(holding, default=0):,}**.",
                  ""]
    if "saturate" in results:
        rows = []
        for r in results["saturate"]:
            g, ref = r["guessnet"], r["reference"]
            rows.append([r["clients"], _f(g["per_s"], 0), _f(g["p50_ms"], 2), _f(g["p99_ms"], 2),
                         _f(ref["per_s"], 0), _f(ref["p99_ms"], 2), _f(r["ratio"], 2),
                         _f(r["redis_benchmark_get_per_s"], 0)
                         if r.get("redis_benchmark_get_per_s") else "-",
                         _f(r["ratio_redis"], 3) if r.get("ratio_redis") else "-"])
        lines += ["### saturate", f"Target: {TARGETS['saturate']}.", "", tabulate(
            rows, headers=["clients", "guessnet /s", "p50 ms", "p99 ms", "reference /s",
                           "ref p99 ms", "ratio", "redis-benchmark GET /s", "ratio to redis"],
            tablefmt="github"), ""]
    if "fanout" in results:
        lines += ["### fanout", f"Target: {TARGETS['fanout']}.", "", tabulate(
            [["yes" if r["slow_reader"] else "no", r["members"], r["rounds"],
              _f(r["e2e_p50_ms"]), _f(r["e2e_p99_ms"]), _f(r["server_p50_ms"], 2),
              _f(r["server_p99_ms"], 2)] for r in results["fanout"]],
            headers=["slow reader", "members", "rounds", "end-to-end p50 ms", "p99 ms",
                     "server-side p50 ms", "p99 ms"], tablefmt="github"), ""]
    if "connect" in results:
        c = results["connect"]
        lines += ["### connect", f"Target: {TARGETS['connect']}.", "",
                  f"New TLS sessions (handshake + hello/welcome) per second with 16 clients: "
                  f"**{_f(c['sessions_per_s'], 0)}**.", "", tabulate(
                      [[n, _f(kib, 0), _range(c["rss_per_connection_kib"], n),
                        _f(c.get("hold_failures", {}).get(n, 0), 0)]
                       for n, kib in c["rss_per_connection_kib"].items()
                       if not n.endswith(("_min", "_max"))],
                      headers=["held connections", "RSS per connection (KiB)", "min-max",
                               "could not connect"],
                      tablefmt="github"), ""]
    if "scaleout" in results:
        s = results["scaleout"]
        lines += ["### scaleout", f"Target: {TARGETS['scaleout']}.", "", tabulate(
            [[k, _f(s[k]["round_end_p50_ms"]), _f(s[k]["round_end_p99_ms"]),
              _f(s[k]["guesses_per_s"], 0)] for k in ("one process", "two processes")],
            headers=["", "round end p50 ms", "p99 ms", "room guesses/s"], tablefmt="github"),
            "", f"Extra p99 across processes: **{_f(s['extra_p99_ms'])} ms**.", ""]
    lines += ["Plots: " + ", ".join(f"`{f}`" for f in figures), ""]
    return "\n".join(lines)
