"""Several server processes on one real Redis and one real memcached serve one game."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
import redis

import protocol
from bench.services import need
from guessnet.support import cpus
from tests.conftest import ROOT, Peer, Running, scaled_backends
from tests.procs import PY, ServerProcess, serving_web
from tests.services import Service, memcached_service, redis_service
from tests.test_cpus import allowed
from tests.test_e2e import win_by_bisection
from tests.web import EventStream, metrics


@pytest.fixture
def pair(tmp_path: Path, certs: Path, redis_url: str,
         memcached_server: Service) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    import memcache
    flusher = memcache.Client([f"127.0.0.1:{memcached_server.port}"])
    flusher.flush_all()
    flusher.disconnect_all()
    extra = ("--redis", redis_url, "--memcached", f"127.0.0.1:{memcached_server.port}",
             "--presence-ttl", "3", "--max", "1000000", "--tries", "30")
    a = ServerProcess(tmp_path / "a", certs, *extra, "--instance-id", "A").start()
    b = ServerProcess(tmp_path / "b", certs, *extra, "--instance-id", "B").start()
    yield a, b
    for proc in (a, b):
        proc.stop()


def secret(redis_url: str, room: str = "main") -> int:
    client = redis.Redis.from_url(redis_url, socket_timeout=5)
    try:
        return int(json.loads(client.get(f"guessnet:room:{room}"))["secret"])  # type: ignore
    finally:
        client.close()


def in_room(proc: ServerProcess, name: str, room: str = "main") -> Peer:
    peer = proc.peer(name)
    peer.request(protocol.Play(mode="multi", room=room), protocol.RoundStarted)
    return peer


def test_a_win_on_a_ends_the_round_on_b(pair: tuple[ServerProcess, ServerProcess],
                                        redis_url: str) -> None:
    a, b = pair
    ann, bob = in_room(a, "ann"), in_room(b, "bob")
    assert ann.expect(protocol.RoomUpdate).name == "bob"
    number = secret(redis_url)
    assert ann.request(protocol.Guess(value=number), protocol.Hint).result == "correct"
    ended = bob.expect(protocol.RoundEnded)
    assert (ended.winner, ended.secret, ended.round) == ("ann", number, 1)
    assert bob.expect(protocol.RoundStarted).round == 2
    for peer in (ann, bob):
        peer.close()


def test_all_failed_is_decided_across_both(pair: tuple[ServerProcess, ServerProcess],
                                           redis_url: str) -> None:
    a, b = pair
    ann, bob = in_room(a, "ann"), in_room(b, "bob")
    number = secret(redis_url)
    misses = [v for v in range(1, 100) if v != number][:30]
    for value in misses:
        ann.request(protocol.Guess(value=value), protocol.Hint)
    for value in misses:
        bob.request(protocol.Guess(value=value), protocol.Hint)
    for peer in (ann, bob):
        ended = peer.expect(protocol.RoundEnded)
        assert ended.outcome == "failed" and ended.secret == number
        peer.close()


def test_admin_on_b_sees_and_kicks_player_on_a(pair: tuple[ServerProcess, ServerProcess]
                                               ) -> None:
    a, b = pair
    admin = b.admin()
    ann = a.peer()
    connected = admin.expect(protocol.AdminEvent, lambda e: e.kind == "connected")
    assert connected.peer == ann.address
    ann.join_as("ann")
    _, rows = admin.table(protocol.ListPlayers())
    assert [(r[1], r[2], r[7]) for r in rows] == [(ann.address, "ann", "A")]
    admin.request(protocol.DirectMessage(to="ann", text="hello from B"), protocol.Ok)
    assert ann.expect(protocol.Chat).text == "hello from B"
    admin.request(protocol.Kick(target="ann", reason="test"), protocol.Ok)
    assert ann.expect(protocol.Bye).reason == "kicked"
    admin.expect(protocol.AdminEvent, lambda e: e.kind == "disconnected")
    assert admin.table(protocol.ListPlayers())[1] == []
    admin.close()
    ann.close()


def test_names_and_logins_span_processes(pair: tuple[ServerProcess, ServerProcess]) -> None:
    a, b = pair
    ann = a.peer("ann")
    other = b.peer()
    other.hello()
    other.refused(protocol.SetName(name="ann"), "name_taken")
    other.request(protocol.Register(name="zoe", password="zoe-password"), protocol.Identified)
    again = a.peer()
    again.hello()
    again.request(protocol.Login(name="zoe", password="zoe-password"), protocol.Identified)
    assert other.expect(protocol.Bye).reason == "replaced"  # the older session, on B
    for peer in (ann, other, again):
        peer.close()


def test_room_messages_really_go_through_redis(pair: tuple[ServerProcess, ServerProcess],
                                               redis_url: str) -> None:
    a, _ = pair
    spy = redis.Redis.from_url(redis_url, socket_timeout=5).pubsub()
    spy.subscribe("guessnet:room:main")
    assert spy.get_message(timeout=5)["type"] == "subscribe"
    ann = in_room(a, "ann")
    ann.request(protocol.Guess(value=secret(redis_url)), protocol.Hint)
    seen: list[dict[str, Any]] = []
    while not any(m.get("type") == "round_ended" for m in seen):
        message = spy.get_message(timeout=5)
        assert message is not None, seen
        if message["type"] == "message":
            envelope = json.loads(message["data"])
            seen += envelope["msgs"] if "msgs" in envelope else [envelope["msg"]]
    # the round's end and the next round's start are published together, in order
    assert [m["type"] for m in seen][-2:] == ["round_ended", "round_started"]
    assert seen[-2]["winner"] == "ann"
    spy.close()
    ann.close()


def test_chat_across_processes(pair: tuple[ServerProcess, ServerProcess]) -> None:
    a, b = pair
    ann, bob = in_room(a, "ann", "den"), in_room(b, "bob", "den")
    lobby = b.peer("lobbyist")
    ann.send(protocol.Say(text="hi from A"))
    chat = bob.expect(protocol.Chat)
    assert (chat.sender, chat.text, chat.room) == ("ann", "hi from A", "den")
    bob.request(protocol.DirectMessage(to="ann", text="psst"), protocol.Ok)
    private = ann.expect(protocol.Chat, lambda c: c.private)
    assert (private.sender, private.text) == ("bob", "psst")
    lobby.request(protocol.Who(), protocol.Table)
    assert not any(isinstance(m, protocol.Chat) for m in lobby.inbox)
    for peer in (ann, bob, lobby):
        peer.close()


def test_tictactoe_across_processes(pair: tuple[ServerProcess, ServerProcess]) -> None:
    a, b = pair
    ann, bob = a.peer("ann"), b.peer("bob")
    assert ann.request(protocol.Invite(to="bob"), protocol.InviteUpdate).outcome == "sent"
    assert bob.expect(protocol.Invited).sender == "ann"
    bob.request(protocol.InviteReply(accept=True), protocol.InviteUpdate)
    assert ann.expect(protocol.InviteUpdate).outcome == "accepted"
    for peer, mark in ((ann, "X"), (bob, "O")):
        assert peer.expect(protocol.Board).you == mark
    assert "not your turn" in bob.refused(protocol.Move(cell="5"), "rejected").message
    for mover, other, cell in ((ann, bob, "1"), (bob, ann, "5"), (ann, bob, "2"),
                               (bob, ann, "9"), (ann, bob, "3")):
        mover.request(protocol.Move(cell=cell), protocol.Board)
        other.expect(protocol.Board)  # relayed across processes at once
    for peer in (ann, bob):
        ended = peer.expect(protocol.MatchEnded)
        assert (ended.outcome, ended.winner) == ("won", "ann")
    bob.request(protocol.Play(mode="single"), protocol.RoundStarted)  # free again
    _, moves = bob.table(protocol.Replay(game_id=ended.game_id or 0))
    assert [m[3] for m in moves] == [1, 5, 2, 9, 3]
    for peer in (ann, bob):
        peer.close()


def test_invitation_across_processes_declined_and_left(
        pair: tuple[ServerProcess, ServerProcess]) -> None:
    a, b = pair
    ann, bob = a.peer("ann"), b.peer("bob")
    ann.request(protocol.Invite(to="bob"), protocol.InviteUpdate)
    bob.expect(protocol.Invited)
    bob.request(protocol.InviteReply(accept=False), protocol.InviteUpdate)
    assert ann.expect(protocol.InviteUpdate).outcome == "declined"
    ann.request(protocol.Invite(to="bob"), protocol.InviteUpdate)
    bob.expect(protocol.Invited)
    ann.request(protocol.Quit(), protocol.Bye)
    assert bob.expect(protocol.InviteUpdate).outcome == "cancelled"
    for peer in (ann, bob):
        peer.close()


def round_is(number: int) -> Callable[[protocol.RoundEnded | protocol.RoundStarted], bool]:
    return lambda msg: msg.round == number


def test_simultaneous_correct_guesses_yield_one_winner(
        pair: tuple[ServerProcess, ServerProcess], redis_url: str) -> None:
    a, b = pair
    ann, bob = in_room(a, "ann"), in_room(b, "bob")
    expected_round = 1
    for _ in range(30):
        number = secret(redis_url)
        start = threading.Barrier(2)

        def shoot(peer: Peer, start: threading.Barrier = start, number: int = number) -> None:
            start.wait(timeout=5)
            peer.send(protocol.Guess(value=number))

        threads = [threading.Thread(target=shoot, args=(p,)) for p in (ann, bob)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=5)
        winners = set()
        for peer in (ann, bob):
            ended = peer.expect(protocol.RoundEnded, round_is(expected_round))
            winners.add(ended.winner)
            peer.expect(protocol.RoundStarted, round_is(expected_round + 1))
        assert len(winners) == 1 and winners <= {"ann", "bob"}
        # the loser's guess is refused while the round is being recorded (no try used), or
        # lands in the next round as an ordinary (wrong) guess once its end was announced
        answers = [peer.expect(protocol.Message, lambda m: isinstance(
            m, protocol.Hint | protocol.Error)) for peer in (ann, bob)]
        results = [m.result if isinstance(m, protocol.Hint) else
                   m.code if isinstance(m, protocol.Error) else "?" for m in answers]
        assert results.count("correct") == 1, results
        assert set(results) <= {"correct", "high", "low", "rejected"}, results
        expected_round += 1
    for peer in (ann, bob):
        peer.close()


def test_counters_in_memcached_shown_in_stats(pair: tuple[ServerProcess, ServerProcess],
                                              redis_url: str) -> None:
    a, b = pair
    ann = in_room(a, "ann")
    ann.request(protocol.Guess(value=secret(redis_url)), protocol.Hint)
    ann.expect(protocol.RoundEnded)
    admin = b.admin()
    stats = dict(admin.table(protocol.Stats())[1])
    assert stats["correct answers"] == "1" and stats["players online"] == 1
    admin.close()
    ann.close()


# --------------------------------------------------------------------- faults

def test_redis_restart_mid_game(make_server: Callable[..., Running], tmp_path: Path) -> None:
    service = redis_service(tmp_path / "redis-data").start()  # AOF: accounts must survive
    url = f"redis://127.0.0.1:{service.port}/0"
    try:
        srv = make_server(backends=scaled_backends(url, None))
        ann = srv.player()
        ann.hello()
        ann.request(protocol.Register(name="ann", password="ann-password"), protocol.Identified)
        ann.request(protocol.Play(mode="multi"), protocol.RoundStarted)
        threads_before = {t.name for t in threading.enumerate() if "_drain" not in t.name}
        service.kill()
        error = ann.refused(protocol.Guess(value=1))
        assert error.code == "unavailable" and "temporarily unavailable" in error.message
        service.start()
        # the server notices by itself, re-reads the room and tells the player
        resumed = ann.expect(protocol.RoundStarted, timeout=15)
        assert resumed.room == "main"
        assert ann.request(protocol.Guess(value=1), protocol.Hint).value == 1
        assert threads_before <= {t.name for t in threading.enumerate()}
        again = srv.player()
        again.hello()
        assert again.request(protocol.Login(name="ann", password="ann-password"),
                             protocol.Identified).account
    finally:
        service.stop()


@pytest.mark.timeout(90)
def test_a_winning_guess_right_after_a_redis_outage_is_answered(
        make_server: Callable[..., Running], tmp_path: Path) -> None:
    """Redis is back before the bus has resubscribed: the winner still gets the hint that
    says so (straight from its process), and round_ended (sent again after the resubscribe);
    the other player learns the round's end too."""
    service = redis_service(tmp_path / "redis-data").start()
    url = f"redis://127.0.0.1:{service.port}/0"
    try:
        srv = make_server(backends=scaled_backends(url, None))
        ann, bob = srv.player("ann"), srv.player("bob")
        for peer in (ann, bob):
            peer.request(protocol.Play(mode="multi"), protocol.RoundStarted)
        number = srv.room_secret()
        service.kill()  # every connection to Redis breaks, the bus's too
        service.start()
        deadline = time.monotonic() + 10
        while True:  # the first guess Redis takes: before the bus is back, most likely
            ann.send(protocol.Guess(value=number))
            answer = ann.expect(protocol.Message, lambda m: isinstance(
                m, protocol.Hint | protocol.Error))
            if isinstance(answer, protocol.Hint):
                break
            assert isinstance(answer, protocol.Error) and answer.code == "unavailable"
            assert time.monotonic() < deadline
        assert answer.result == "correct"
        assert ann.expect(protocol.RoundEnded, timeout=15).winner == "ann"
        assert bob.expect(protocol.RoundEnded, timeout=15).winner == "ann"
    finally:
        service.stop()


def test_memcached_stops_mid_game(make_server: Callable[..., Running], redis_url: str) -> None:
    service = memcached_service().start()
    try:
        srv = make_server(backends=scaled_backends(redis_url, f"127.0.0.1:{service.port}"))
        admin = srv.admin()
        ann = srv.player("ann")
        ann.request(protocol.Play(mode="multi"), protocol.RoundStarted)
        service.kill()
        ann.request(protocol.Guess(value=srv.room_secret()), protocol.Hint)  # the game goes on
        assert ann.expect(protocol.RoundEnded).winner == "ann"
        stats = dict(admin.table(protocol.Stats())[1])
        assert "incomplete" in stats["note"] and stats["correct answers"].startswith("unknown")
    finally:
        service.stop()


def test_dead_process_vanishes_from_presence(pair: tuple[ServerProcess, ServerProcess],
                                             redis_url: str) -> None:
    a, b = pair
    client = redis.Redis.from_url(redis_url, socket_timeout=10)
    client.config_set("notify-keyspace-events", "Ex")
    expired = client.pubsub()
    expired.subscribe("__keyevent@0__:expired")
    ann = a.peer("ann")
    admin = b.admin()
    assert [r[2] for r in admin.table(protocol.ListPlayers())[1]] == ["ann"]
    a.stop(9)  # SIGKILL: no goodbye, presence is left to expire
    deadline_messages = 0
    while True:  # wait for Redis to say the session entry expired (TTL 3 s)
        message = expired.get_message(timeout=10)
        assert message is not None and deadline_messages < 50
        deadline_messages += 1
        if message["type"] == "message" and b"session:A/" in message["data"]:
            break
    assert admin.table(protocol.ListPlayers())[1] == []
    bob = in_room(b, "bob")  # the room goes on for the others
    assert bob.request(protocol.Guess(value=secret(redis_url)), protocol.Hint).result == "correct"
    for closable in (expired, client):
        closable.close()
    for peer in (ann, admin, bob):
        peer.close()


def test_a_dead_process_players_leave_their_rooms_within_the_ttl(
        pair: tuple[ServerProcess, ServerProcess], redis_url: str) -> None:
    a, b = pair  # --presence-ttl 3, --tries 30
    ann, bob = in_room(a, "ann"), in_room(b, "bob")
    assert ann.expect(protocol.RoomUpdate).name == "bob"
    number = secret(redis_url)
    for value in range(1, 31):  # ann uses every try, bob none: the round goes on
        ann.request(protocol.Guess(value=value if value < number else value + 1), protocol.Hint)
    b.stop(signal.SIGKILL)
    started = time.monotonic()
    lost = ann.expect(protocol.RoomUpdate, lambda u: u.event == "lost", timeout=3 + 3 + 5)
    assert lost.name == "bob" and time.monotonic() - started < 3 + 3 + 2  # ttl + a beat
    ended = ann.expect(protocol.RoundEnded, timeout=5)
    assert ended.outcome == "failed" and ended.round == 1  # everyone left is out of tries
    assert ann.expect(protocol.RoundStarted).tries_used == 0
    admin = a.admin()
    assert admin.table(protocol.ListRooms())[1] == [("main", 2, 1, "ann (0/30)")]
    for peer in (ann, bob, admin):
        peer.close()


@pytest.mark.timeout(90)
def test_clean_up_outlives_a_damaged_room_and_a_crash_loop(
        pair: tuple[ServerProcess, ServerProcess], redis_url: str, tmp_path: Path,
        certs: Path, memcached_server: Service) -> None:
    a, b = pair  # --presence-ttl 3: a dead process's players are out within 3.5 s
    ann, bob = in_room(a, "ann", "good"), in_room(b, "bob", "good")
    assert ann.expect(protocol.RoomUpdate).name == "bob"
    carl = in_room(b, "carl", "broken")
    client = redis.Redis.from_url(redis_url, socket_timeout=5)
    damaged = json.loads(client.get("guessnet:room:broken"))  # type: ignore[arg-type]
    damaged["secret"] = 10 ** 9  # outside its range: no process can load this room
    client.set("guessnet:room:broken", json.dumps(damaged))
    client.close()
    b.stop(signal.SIGKILL)
    killed = time.monotonic()
    lost = ann.expect(protocol.RoomUpdate, lambda u: u.event == "lost", timeout=10)
    assert lost.name == "bob" and time.monotonic() - killed < 3.5 + 1.0
    # a supervisor restarts the crashed process, and it crashes again a few seconds later
    again = ServerProcess(tmp_path / "b", certs, "--redis", redis_url, "--memcached",
                          f"127.0.0.1:{memcached_server.port}", "--presence-ttl", "3",
                          "--max", "10", "--instance-id", "B").start()
    try:
        dan = in_room(again, "dan", "good")
        ann.expect(protocol.RoomUpdate, lambda u: u.name == "dan" and u.event == "joined")
        again.stop(signal.SIGKILL)
        killed = time.monotonic()
        ann.expect(protocol.RoomUpdate, lambda u: u.name == "dan" and u.event == "lost",
                   timeout=10)
        assert time.monotonic() - killed < 3.5 + 1.0
        dan.close()
    finally:
        again.stop()
    log = (tmp_path / "a" / "logs" / "server.log").read_text()
    assert "room broken cannot be read, skipped" in log
    for peer in (ann, bob, carl):
        peer.close()


def test_scoreboard_and_metrics_with_two_processes(tmp_path: Path, certs: Path, redis_url: str,
                                                   memcached_server: Service) -> None:
    extra = ("--redis", redis_url, "--memcached", f"127.0.0.1:{memcached_server.port}",
             "--presence-ttl", "3")
    a = serving_web(tmp_path / "a", certs, *extra, "--instance-id", "A")
    try:  # (a process left running on the shared Redis would sweep other tests' rooms)
        b = serving_web(tmp_path / "b", certs, *extra, "--instance-id", "B")
    except BaseException:
        a.stop()
        raise
    web_a, web_b = a.web_port, b.web_port
    ca = certs / "ca.pem"
    stream = EventStream(web_b, ca)  # the page on B
    ann = a.peer("ann")
    bob = b.peer("bob")
    try:
        stream.next_state()
        ann.request(protocol.Play(mode="multi", room="shared"), protocol.RoundStarted)
        bob.request(protocol.Play(mode="multi", room="shared"), protocol.RoundStarted)
        state = stream.wait_for(lambda s: any(
            r["name"] == "shared" and len(r["members"]) == 2 for r in s["rooms"]))
        assert state["online"] == 2  # players of both processes
        win_by_bisection(ann)
        state = stream.wait_for(lambda s: s["rounds"] and s["rounds"][0]["winner"] == "ann")
        carl = a.peer("carl")
        carl.request(protocol.Play(mode="tictactoe"), protocol.Board)
        carl.request(protocol.Move(cell="5"), protocol.Board)
        state = stream.wait_for(lambda s: any(  # a match hosted on A, on B's page
            m["x"] == "carl" and "X" in m["board"] for m in s["matches"]))
        on_a, on_b = metrics(web_a, ca), metrics(web_b, ca)
        assert on_a['guessnet_rounds_total{outcome="won"}'] == 1  # ended on A
        assert on_b['guessnet_rounds_total{outcome="won"}'] == 0
        assert on_a["guessnet_players_connected"] == 2 and on_b["guessnet_players_connected"] == 1
        assert on_a["guessnet_rooms"] == on_b["guessnet_rooms"] == 1  # one shared room
        assert on_a["guessnet_guesses_total"] >= 1 and on_b["guessnet_guesses_total"] == 0
        carl.close()
    finally:
        stream.close()
        for peer in (ann, bob):
            peer.close()
        for proc in (a, b):
            proc.stop()


@pytest.mark.timeout(120)
def test_workers_share_the_ports_and_one_game(tmp_path: Path, certs: Path) -> None:
    try:
        need("redis-server")
    except Exception as exc:  # MissingService: ./test.sh installs it; never a silent skip
        pytest.fail(str(exc))
    server = ServerProcess(tmp_path / "w", certs, "--workers", "2").start()
    try:
        assert "2 workers sharing them through Redis" in server.banner
        peers = [server.peer(f"p{i}") for i in range(8)]  # spread over both by the kernel
        for peer in peers:
            peer.request(protocol.Play(mode="multi", room="shared"), protocol.RoundStarted)
        admin = server.admin()
        _, rows = admin.table(protocol.ListPlayers())
        where = {row[2]: row[7] for row in rows}  # name -> the worker serving it
        assert sorted(where) == sorted(f"p{i}" for i in range(8))
        assert len(set(where.values())) == 2, where  # both workers serve players
        workers = [child.pid for child in psutil.Process(server.pid).children()
                   if "server.py" in " ".join(child.cmdline())]
        cpus_of = {pid: allowed(pid)[pid] for pid in workers}
        if len(cpus.usable()) > 1:  # --pin-cpu auto: each worker its own CPU
            assert len(set(cpus_of.values())) == 2 and all(
                text.isdigit() for text in cpus_of.values()), cpus_of
        _, rooms = admin.table(protocol.ListRooms())
        assert [(r[0], r[2]) for r in rooms] == [("shared", 8)]  # one room for all
        peers[0].request(protocol.Say(text="hello from one worker"), protocol.Chat)
        for peer in peers[1:]:
            assert peer.expect(protocol.Chat).text == "hello from one worker"
        for peer in [*peers, admin]:
            peer.close()
    finally:
        assert server.stop() == 0
    assert (tmp_path / "w" / "data" / "appendonlydir").is_dir()  # Redis kept its file


def test_workers_without_redis_say_what_to_install(tmp_path: Path, certs: Path) -> None:
    done = subprocess.run(
        [PY, str(ROOT / "server.py"), "--workers", "2", "--certs", str(certs),
         "--data-dir", str(tmp_path / "d"), "--log-dir", str(tmp_path / "l")],
        capture_output=True, text=True, timeout=30, cwd=ROOT, env={"PATH": "/nonexistent"})
    assert done.returncode == 1 and "install redis-server" in done.stderr
    assert "Traceback" not in done.stderr
