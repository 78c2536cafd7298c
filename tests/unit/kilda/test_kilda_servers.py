"""The wait's watch on the ensemble's servers: which losses count as evidence that components lost
their connections (servers.ServerWatch), and what a server's srvr answer is read as."""
import socket
import threading

from ansible_collections.zerodowntime.cluster.plugins.module_utils._kilda import diagnose, servers

SRVR = (b"Zookeeper version: 3.8.4-9316c2a7a97e1666d8f4593f34dd6fc36ecc436c, built on 2024-02-12 22:16 UTC\n"
        b"Latency min/avg/max: 0/0.4/12\nReceived: %d\nSent: 4410\nConnections: 3\nOutstanding: 0\n"
        b"Zxid: 0x200000031\nMode: %s\nNode count: 161\n")


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def answer(received, mode="follower"):
    return {"version": (3, 8, 4), "received": received, "mode": mode}


def watch():
    gone = []
    clock = Clock()
    w = servers.ServerWatch({"hosts": "127.0.0.1:2181,127.0.0.1:2182"}, lambda *a: gone.append(a), silent_for=4.0,
                            clock=clock)
    return w, gone, clock


def looks(w, clock, name, outcomes, start=100.0):
    for offset, outcome in enumerate(outcomes):
        clock.now = start + offset
        w.observe(name, outcome)


def test_a_serving_server_that_refuses_twice_is_reported_once_at_its_first_failed_look():
    w, gone, clock = watch()
    looks(w, clock, "127.0.0.1:2181", [answer(10), servers.DOWN])
    assert gone == []  # one failed connection can be a hiccup
    looks(w, clock, "127.0.0.1:2181", [servers.DOWN, servers.DOWN], start=102.0)
    assert gone == [("127.0.0.1:2181", "stopped serving", 101.0)]


def test_a_silent_server_counts_only_once_its_clients_would_have_noticed():
    w, gone, clock = watch()
    looks(w, clock, "127.0.0.1:2181", [answer(10)] + [servers.SILENT] * 4)
    assert gone == []  # silent for 3 s: its clients still wait for it
    looks(w, clock, "127.0.0.1:2181", [servers.SILENT], start=105.0)
    assert gone == [("127.0.0.1:2181", "went silent", 101.0)]


def test_hiccups_between_answers_are_no_loss():
    w, gone, clock = watch()
    looks(w, clock, "127.0.0.1:2181", [answer(10), servers.DOWN, answer(20), servers.SILENT, servers.SILENT, answer(30)])
    assert gone == []


def test_a_server_that_never_answered_srvr_gives_no_evidence():
    w, gone, clock = watch()
    looks(w, clock, "127.0.0.1:2182", [servers.DOWN] * 5)  # down from the start
    looks(w, clock, "127.0.0.1:2181", [None, None, servers.DOWN, servers.DOWN])  # srvr not whitelisted
    assert gone == []


def test_a_counter_that_went_down_is_a_restart_between_two_looks():
    w, gone, clock = watch()
    looks(w, clock, "127.0.0.1:2181", [answer(500), answer(7)])
    assert gone == [("127.0.0.1:2181", "restarted", 101.0)]


def test_a_server_that_comes_back_after_its_loss_is_not_reported_again():
    w, gone, clock = watch()
    # back restarted (its counter is lower), but that loss is known already
    looks(w, clock, "127.0.0.1:2181", [answer(500), servers.DOWN, servers.DOWN, answer(3), answer(9)])
    assert [g[1] for g in gone] == ["stopped serving"]


def serve_srvr_once(reply):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def serve():
        conn, dummy = listener.accept()
        with conn:
            conn.recv(4)
            conn.sendall(reply)
        listener.close()

    threading.Thread(target=serve, daemon=True).start()
    return listener.getsockname()[1]


def test_server_stats_reads_version_packets_received_and_mode():
    port = serve_srvr_once(SRVR % (4409, b"leader"))
    assert diagnose.server_stats("127.0.0.1", port, timeout=2) == {"version": (3, 8, 4), "received": 4409, "mode": "leader"}


def test_a_look_tells_not_serving_and_refused_from_silent():
    assert servers.look("127.0.0.1", serve_srvr_once(b"This ZooKeeper instance is not currently serving requests\n")) == servers.DOWN
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)  # accepts, never answers
    port = listener.getsockname()[1]
    try:
        assert servers.look("127.0.0.1", port, timeout=0.3) == servers.SILENT
    finally:
        listener.close()
    assert servers.look("127.0.0.1", port, timeout=0.3) == servers.DOWN  # refused now


def test_server_stats_is_none_for_a_whitelist_without_srvr_and_for_no_server():
    port = serve_srvr_once(b"srvr is not executed because it is not in the whitelist.\n")
    assert diagnose.server_stats("127.0.0.1", port, timeout=2) is None
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    free = closed.getsockname()[1]
    closed.close()
    assert diagnose.server_stats("127.0.0.1", free, timeout=1) is None


WCHP = (b"/kilda/network/blue/signal\n\t0x1000167c11d0001\n\t0x1000167c11d0002\n"
        b"/kilda/network/blue/build-version\n\t0x1000167c11d0001\n\n")
SIGNAL = "/kilda/network/blue/signal"


def test_wchp_lists_the_sessions_watching_each_path():
    assert servers.parse_wchp(WCHP.decode()) == {SIGNAL: ["0x1000167c11d0001", "0x1000167c11d0002"],
                                                 "/kilda/network/blue/build-version": ["0x1000167c11d0001"]}
    assert servers.parse_wchp("") == {}  # a server nobody watches anything on
    assert servers.parse_wchp("wchp is not executed because it is not in the whitelist.\n") is None


def test_watch_holders_names_the_server_of_each_session_and_skips_servers_that_do_not_answer():
    def asker(host, port, word, *rest):
        assert word == b"wchp"
        if port == 2183:
            raise ConnectionRefusedError()
        return WCHP.decode() if port == 2181 else "wchp is not executed because it is not in the whitelist.\n"

    holders = servers.watch_holders([("127.0.0.1", 2181), ("127.0.0.1", 2182), ("127.0.0.1", 2183)], {SIGNAL: "network/blue"},
                                    asker=asker)
    assert holders == {SIGNAL: {("127.0.0.1:2181", "0x1000167c11d0001"), ("127.0.0.1:2181", "0x1000167c11d0002")}}


def test_a_watch_held_by_a_new_session_or_on_another_server_moved_and_a_missing_one_did_not():
    moves = servers.WatchMoves({SIGNAL: "network/blue"}, baseline={SIGNAL: {("a:1", "0x1")}})
    assert moves.observe({}) == []  # fired and not set again yet
    assert moves.observe({SIGNAL: {("a:1", "0x1")}}) == []
    # the same session on another server: the component reconnected there (kazoo keeps its session)
    assert moves.observe({SIGNAL: {("b:2", "0x1")}}) == [
        ("network/blue", "its watch on signal moved from session 0x1 on a:1 to session 0x1 on b:2")]
    assert moves.observe({SIGNAL: {("b:2", "0x1")}}) == []
    # a new session (Kilda's ZkClient closes its session on every disconnect), the old one not expired yet
    assert [m[0] for m in moves.observe({SIGNAL: {("b:2", "0x1"), ("c:3", "0x9")}})] == ["network/blue"]
    assert moves.observe({"/other/signal": {("c:3", "0x5")}}) == []  # not a path being watched
    # a move names where the watch was in the last round that found it, not every session ever seen
    moves.observe({SIGNAL: {("c:3", "0x9")}})
    assert moves.observe({SIGNAL: {("a:1", "0xa")}}) == [
        ("network/blue", "its watch on signal moved from session 0x9 on c:3 to session 0xa on a:1")]


def test_with_nothing_watched_before_the_first_watch_seen_is_no_move():
    moves = servers.WatchMoves({SIGNAL: "network/blue"})
    assert moves.observe({SIGNAL: {("a:1", "0x1")}}) == []  # the component started, or the baseline fell in a gap
    assert moves.observe({SIGNAL: {("a:1", "0x2")}}) != []


def test_the_watch_reports_each_move_at_the_time_it_saw_it():
    moved = []
    clock = Clock()
    w = servers.ServerWatch({"hosts": "127.0.0.1:2181"}, lambda *a: None, silent_for=4.0, clock=clock,
                            moves=servers.WatchMoves({SIGNAL: "network/blue"}, {SIGNAL: {("a:1", "0x1")}}),
                            on_moved=lambda *a: moved.append(a))
    clock.now = 107.0
    w.observe_watches({SIGNAL: {("b:2", "0x1")}})
    assert moved == [("network/blue", "its watch on signal moved from session 0x1 on a:1 to session 0x1 on b:2", 107.0)]
