"""Cluster-wide shared state (what Mria holds in a real EMQX cluster): membership, heartbeats,
each node's published status, and session ownership. One sqlite file in WAL mode in the
workdir, so it survives any member being killed with -9."""
import json
import sqlite3
import time

HEARTBEAT_EVERY = 0.5
# A member whose heartbeat is older than this is no longer counted as running (net tick).
HEARTBEAT_STALE = 2.5

SCHEMA = """
CREATE TABLE IF NOT EXISTS nodes (
    name TEXT PRIMARY KEY,
    joined INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL DEFAULT 'stopped',
    heartbeat REAL NOT NULL DEFAULT 0,
    boot REAL NOT NULL DEFAULT 0,
    live INTEGER NOT NULL DEFAULT 0,
    agent TEXT,
    local_status TEXT,
    evacuation TEXT,
    rebalance TEXT
);
CREATE TABLE IF NOT EXISTS sessions (
    client_id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    connected INTEGER NOT NULL,
    conn_id TEXT,
    subscriptions INTEGER NOT NULL DEFAULT 0,
    dying INTEGER NOT NULL DEFAULT 0,
    updated REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_owner ON sessions(owner, connected);
"""


class Store:
    def __init__(self, path):
        self.db = sqlite3.connect(path, timeout=10.0, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)

    def close(self):
        self.db.close()

    # membership -------------------------------------------------------------------------
    def define(self, names):
        for name in names:
            self.db.execute("INSERT OR IGNORE INTO nodes(name) VALUES (?)", (name,))

    def boot(self, name):
        now = time.time()
        self.db.execute(
            "UPDATE nodes SET joined=1, status='running', heartbeat=?, boot=?, live=0, agent=NULL,"
            " local_status=NULL, evacuation=NULL, rebalance=NULL WHERE name=?", (now, now, name))

    def heartbeat(self, name, live, agent, local_status, evacuation, rebalance):
        self.db.execute(
            "UPDATE nodes SET heartbeat=?, live=?, agent=?, local_status=?, evacuation=?, rebalance=?"
            " WHERE name=? AND status='running'",
            (time.time(), live, _dump(agent), _dump(local_status), _dump(evacuation), _dump(rebalance), name))

    def mark_stopped(self, name):
        self.db.execute(
            "UPDATE nodes SET status='stopped', live=0, agent=NULL, local_status=NULL, evacuation=NULL,"
            " rebalance=NULL WHERE name=?", (name,))

    def members(self):
        """Every node that ever joined, with a computed ``running`` flag."""
        now = time.time()
        rows = self.db.execute(
            "SELECT name, status, heartbeat, boot, live, agent, local_status, evacuation, rebalance"
            " FROM nodes WHERE joined=1 ORDER BY name").fetchall()
        out = {}
        for name, status, beat, boot, live, agent, local, evac, reb in rows:
            running = _running(status, beat, now)
            out[name] = {
                "name": name, "running": running, "boot": boot, "live": live if running else 0,
                "agent": _load(agent) if running else None,
                "local_status": _load(local) if running else None,
                "evacuation": _load(evac) if running else None,
                "rebalance": _load(reb) if running else None,
            }
        return out

    def running(self):
        return [name for name, member in self.members().items() if member["running"]]

    def is_running(self, name):
        """members()[name]["running"] without decoding every member's state (asked once per reconnect)."""
        row = self.db.execute("SELECT status, heartbeat FROM nodes WHERE joined=1 AND name=?", (name,)).fetchone()
        return row is not None and _running(row[0], row[1], time.time())

    # sessions ---------------------------------------------------------------------------
    def session(self, client_id):
        row = self.db.execute("SELECT owner, connected, conn_id, dying FROM sessions WHERE client_id=?",
                              (client_id,)).fetchone()
        return None if row is None else {"owner": row[0], "connected": bool(row[1]), "conn_id": row[2],
                                         "dying": bool(row[3])}

    def take_dead(self, client_id, owner):
        """Atomically remove a session of a dead ``owner``; True if this caller removed it."""
        cur = self.db.execute("DELETE FROM sessions WHERE client_id=? AND owner=? AND dying=0", (client_id, owner))
        return cur.rowcount == 1

    def mark_dying(self, owner):
        """The owner is going away: its sessions are being discarded; returns their ids."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self.db.execute("UPDATE sessions SET dying=1 WHERE owner=?", (owner,))
            ids = [r[0] for r in self.db.execute("SELECT client_id FROM sessions WHERE owner=? AND dying=1", (owner,))]
            self.db.execute("COMMIT")
        except Exception:
            self.db.execute("ROLLBACK")
            raise
        return ids

    def drop_dying(self, client_id):
        self.db.execute("DELETE FROM sessions WHERE client_id=? AND dying=1", (client_id,))

    def claim(self, client_id, owner, conn_id):
        self.db.execute(
            "INSERT INTO sessions(client_id, owner, connected, conn_id, subscriptions, updated)"
            " VALUES (?,?,1,?,0,?) ON CONFLICT(client_id) DO UPDATE SET owner=excluded.owner,"
            " connected=1, dying=0, conn_id=excluded.conn_id, updated=excluded.updated",
            (client_id, owner, conn_id, time.time()))

    def reset_subscriptions(self, client_id):
        self.db.execute("UPDATE sessions SET subscriptions=0 WHERE client_id=?", (client_id,))

    def add_subscriptions(self, client_id, conn_id, count):
        self.db.execute("UPDATE sessions SET subscriptions=subscriptions+? WHERE client_id=? AND conn_id=?",
                        (count, client_id, conn_id))

    def release(self, client_id, conn_id, keep):
        """The connection ``conn_id`` ended: keep the session (disconnected) or drop it."""
        if keep:
            self.db.execute("UPDATE sessions SET connected=0, updated=? WHERE client_id=? AND conn_id=?",
                            (time.time(), client_id, conn_id))
        else:
            self.db.execute("DELETE FROM sessions WHERE client_id=? AND conn_id=?", (client_id, conn_id))

    def disconnected_sessions(self, owner, limit):
        return [r[0] for r in self.db.execute(
            "SELECT client_id FROM sessions WHERE owner=? AND connected=0 AND dying=0 ORDER BY updated LIMIT ?",
            (owner, limit))]

    def move(self, client_id, from_owner, to_owner):
        cur = self.db.execute("UPDATE sessions SET owner=?, updated=? WHERE client_id=? AND owner=? AND connected=0"
                              " AND dying=0",
                              (to_owner, time.time(), client_id, from_owner))
        return cur.rowcount == 1

    def counts(self, owner=None):
        """{owner: {"sessions": n, "connected": n, "disconnected": n, "subscriptions": n}}, of every
        owner or of ``owner`` only (a node publishes its own up to ten times a second: reading
        only its rows through the owner index keeps that cheap at 10,000 sessions)."""
        out = {}
        where, params = ("WHERE owner=? AND dying=0", (owner,)) if owner is not None else ("WHERE dying=0", ())
        for owner_name, connected, n, subs in self.db.execute(
                "SELECT owner, connected, count(*), sum(subscriptions) FROM sessions %s"
                " GROUP BY owner, connected" % where, params):
            entry = out.setdefault(owner_name, {"sessions": 0, "connected": 0, "disconnected": 0, "subscriptions": 0})
            entry["sessions"] += n
            entry["subscriptions"] += subs or 0
            entry["connected" if connected else "disconnected"] += n
        return out


def _running(status, heartbeat, now):
    """A member counts as running while its last heartbeat is fresh (Erlang's net tick)."""
    return status == "running" and now - heartbeat < HEARTBEAT_STALE


def _dump(value):
    return None if value is None else json.dumps(value)


def _load(value):
    return None if value is None else json.loads(value)
