"""One EMQX node of the lab: MQTT listener, eviction agent, evacuation and rebalance processes,
REST API v5 (and v4 with --api v4). Run as ``python -m emqx_lab.node --workdir DIR --name NODE``."""
import argparse
import asyncio
import logging
import os
import random
import resource
import signal
import time

from aiohttp import web

from emqx_lab import api_v4, api_v5, config, mqtt, relay, rpc, versions
from emqx_lab.evacuation import Evacuation
from emqx_lab.store import HEARTBEAT_EVERY, HEARTBEAT_STALE, Store

log = logging.getLogger("emqx_lab.node")


ALIVE_FOR = 0.05  # seconds a successful look at a node's port stands for (owner_alive)
# On a lab network (--containers --network) a peer counts as running only while it answers this
# node over the network as well: a ping every HEARTBEAT_EVERY, each given PING_TIMEOUT, and a peer
# unanswered for HEARTBEAT_STALE is down in this node's view (Erlang's net tick, shortened as the
# lab's heartbeat is). The shared store cannot tell: a partitioned node goes on writing to it.
PING_TIMEOUT = 1.0
# How long a node waits for a session's owner to hand it over on a lab network before it starts a
# new session (T_TAKEOVER in EMQX is 15 s; shortened like the net tick).
TAKEOVER_TIMEOUT = 2.0
# After a partition heals, the node that was alone restarts its applications this long after its
# peers answer again (mria_autoheal: 3 s to report to the leader, which waits 15 s more).
AUTOHEAL_DELAY = 3.0


class Node:
    def __init__(self, workdir, name):
        self.workdir = workdir
        self.cfg = config.load(workdir)
        self.spec = config.node(self.cfg, name)
        self.name = name
        self.version = self.spec["version"]
        self.edition = self.spec.get("edition", "Enterprise")
        self.data_dir = os.path.join(workdir, "data", name)
        os.makedirs(self.data_dir, exist_ok=True)
        self.host = config.host(self.spec)
        self.networked = self.host != "127.0.0.1"
        self.mosquitto_host = config.host(self.cfg["mosquitto"])
        self.mosquitto_port = self.cfg["mosquitto"]["port"]
        self.mosquitto_socket = self.cfg["mosquitto"].get("socket")
        self.store = Store(config.db_path(workdir))
        self.rpc = rpc.Client(self)
        self.conns = {}
        self.agent = None  # {"kind", "allow_connections", "server_reference", "coordinator"}
        self.donor = None  # this node's side of a rebalance it donates to
        self.evacuation = None
        self.coordinator = None
        self.refused = 0
        self.dirty = False
        self.shutting_down = False
        self.alive_until = {}  # node name -> loop time until which a look at its port stands
        self.answered = {}  # peer name -> monotonic time of its last answer over the network (networked only)
        self.ping_task = None
        self.alone_since = None  # monotonic time since when no peer has answered while some run (networked only)
        self.healing = None
        self.started_at = time.time()

    # membership helpers -----------------------------------------------------------------
    def members(self):
        members = self.store.members()
        if self.networked:
            for name, member in members.items():
                if member["running"] and not self.answers(name):
                    member.update(running=False, live=0, agent=None, local_status=None, evacuation=None, rebalance=None)
        return members

    def running_nodes(self):
        return [name for name, member in self.members().items() if member["running"]]

    def answers(self, name):
        """Has ``name`` answered this node over the network within the net tick (always, off a lab network)?"""
        if name == self.name or not self.networked:
            return True
        return time.monotonic() - self.answered.get(name, float("-inf")) < HEARTBEAT_STALE

    async def ping_peers(self):
        """One round of pings to every peer the store lists as running (networked nodes only)."""
        peers = [name for name in self.store.running() if name != self.name]

        async def ping(name):
            try:
                await self.rpc.call(name, "ping", timeout=PING_TIMEOUT)
            except rpc.RpcError:
                return
            self.answered[name] = time.monotonic()

        await asyncio.gather(*(ping(name) for name in peers))
        self.watch_partition(peers)

    def watch_partition(self, peers):
        """Cut off from every running peer, then back: restart as mria_autoheal restarts the smaller
        side of a healed partition (a tie goes to the oldest node), in apps/mria/src/mria_autoheal.erl."""
        answering = [name for name in peers if self.answers(name)]
        # alone: no peer it has heard from answers any more (at boot, peers that are not listening
        # yet do not count)
        if peers and not answering and any(name in self.answered for name in peers):
            if self.alone_since is None:
                self.alone_since = time.monotonic()
                log.warning("no peer answers: cut off from %s", ", ".join(sorted(peers)))
            return
        if self.alone_since is None or not answering or self.healing is not None:
            return
        boots = {name: member["boot"] for name, member in self.store.members().items()}
        older_peer = any(boots.get(name, 0) < boots.get(self.name, 0) for name in answering)
        self.alone_since = None
        if len(answering) > 1 or older_peer:
            log.warning("partition healed: %s answer again; autoheal restarts this node in %.0f s",
                        ", ".join(sorted(answering)), AUTOHEAL_DELAY)
            self.healing = asyncio.ensure_future(self.autoheal())

    async def autoheal(self):
        """mria:join(Coordinator, heal) on the losing side: EMQX's applications stop (every client is
        dropped, sessions in memory are lost) and start again; a node evacuation resumes from its file."""
        await asyncio.sleep(AUTOHEAL_DELAY)
        try:
            if self.coordinator is not None:
                await self.coordinator.abort("coordinator_stopped")
            if self.evacuation is not None:
                self.evacuation.cancel()
                self.evacuation = None
            self.agent = self.donor = None
            dying = asyncio.ensure_future(self.discard_owned())
            for conn in list(self.conns.values()):
                conn.close_abruptly()
            await dying
            self.store.boot(self.name)
            self.evacuation = Evacuation.resume(self)
            if self.evacuation is not None:
                self.evacuation.launch()
            self.publish()
            log.warning("autoheal restart done%s", ": evacuation resumed" if self.evacuation else "")
        finally:
            self.healing = None

    async def ping_loop(self):
        while True:
            try:
                await self.ping_peers()
            except Exception:
                log.exception("pinging peers failed")
            await asyncio.sleep(HEARTBEAT_EVERY)

    def api_port_of(self, name):
        return config.node(self.cfg, name)["api_port"]

    def address_of(self, name):
        return config.host(config.node(self.cfg, name))

    async def reachable(self, name, timeout=0.5):
        """Is ``name``'s process there at all? A stopped or killed node's port is closed, and
        loopback refuses at once. A connection that does not complete in time is a node too busy
        to accept (its listen backlog full): alive. EMQX learns that a peer is gone from the
        Erlang distribution, not from a slow answer, and waits up to 15 s for a busy owner to
        hand over a session (T_TAKEOVER, apps/emqx/include/emqx_cm.hrl; takeover_session_begin
        in apps/emqx/src/emqx_cm.erl starts a new session only when the takeover fails). Taking
        a timeout for death discarded hundreds of sessions of a 10,000-client drain."""
        if name == self.name:
            return True
        if self.networked:
            # a partitioned node's port does not refuse, it is silent: only the net tick tells
            return self.answers(name)
        try:
            spec = config.node(self.cfg, name)
        except KeyError:
            return False
        try:
            _reader, writer = await asyncio.wait_for(asyncio.open_connection(config.host(spec), spec["api_port"]), timeout)
        except asyncio.TimeoutError:
            return True
        except OSError:
            return False
        writer.close()
        return True

    def available_recipients(self, candidates=None):
        """Running nodes other than this one whose eviction agent is off (they accept load)."""
        members = self.members()
        names = candidates if candidates is not None else list(members)
        return [n for n in names if n != self.name and n in members and members[n]["running"]
                and not members[n]["agent"]]

    # sessions ---------------------------------------------------------------------------
    async def owner_alive(self, name):
        if not self.store.is_running(name):
            return False
        if self.networked:
            # Before the owner is seen down its channel is still registered: the takeover call
            # times out and the connecting client's process crashes without a CONNACK (the error is
            # not caught on the way up from emqx_cm:takeover_session/2). Once it is seen down, its
            # registrations are cleaned up (emqx_cm_registry) and the client gets a new session.
            if not self.answers(name):
                return False
            await self.rpc.call(name, "ping", timeout=TAKEOVER_TIMEOUT)  # RpcError: the connection ends
            return True
        # Thousands of clients moving at once ask about the same few owners: one look at a port
        # stands for 50 ms. A killed node's clients come back no sooner than 100 ms after it died
        # (the shortest reconnect delay of the load generator), so none of them is told it lives.
        now = asyncio.get_running_loop().time()
        if self.alive_until.get(name, 0.0) > now:
            return True
        alive = await self.reachable(name)
        if alive:
            self.alive_until[name] = now + ALIVE_FOR
        return alive

    async def adopt_session(self, client_id):
        """A client connects here. A session whose owner is going away is discarded by that
        owner: wait for it. A session whose owner is already gone died with it."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5.0
        while loop.time() < deadline:
            owner = self.store.session(client_id)
            if owner is None or owner["owner"] == self.name:
                return
            if not owner["dying"]:
                if not await self.owner_alive(owner["owner"]) and self.store.take_dead(client_id, owner["owner"]):
                    await mqtt.discard_session(self.mosquitto_host, self.mosquitto_port, client_id)
                return
            await asyncio.sleep(0.02)

    async def discard_owned(self):
        """Sessions this node holds are lost with it (they live in its memory in EMQX)."""
        ids = self.store.mark_dying(self.name)

        async def one(client_id):
            try:
                await mqtt.discard_session(self.mosquitto_host, self.mosquitto_port, client_id)
            finally:
                self.store.drop_dying(client_id)

        for start in range(0, len(ids), 50):
            await asyncio.gather(*(one(cid) for cid in ids[start:start + 50]), return_exceptions=True)
        if ids:
            log.info("discarded %d sessions this node owned", len(ids))

    def counts(self):
        mine = self.store.counts(self.name).get(self.name, {})
        return {
            "live": len(self.conns),
            "sessions": mine.get("sessions", 0),
            "disconnected": mine.get("disconnected", 0),
            "subscriptions": mine.get("subscriptions", 0),
        }

    # eviction agent ---------------------------------------------------------------------
    def enable_agent(self, kind, allow_connections, server_reference=None, coordinator=None):
        if self.agent is not None and (self.agent["kind"] != kind or self.agent.get("coordinator") != coordinator):
            return "eviction_agent_busy"
        self.agent = {"kind": kind, "allow_connections": allow_connections,
                      "server_reference": server_reference, "coordinator": coordinator}
        self.publish()
        return "ok"

    def disable_agent(self, kind):
        if self.agent is not None and self.agent["kind"] == kind:
            self.agent = None
            self.donor = None
            self.publish()

    def evict_connections(self, count):
        victims = list(self.conns.values())[:max(0, count)]
        reference = (self.agent or {}).get("server_reference")
        for conn in victims:
            conn.evict(reference)
        return len(victims)

    def evict_sessions(self, count, recipients):
        moved = 0
        for client_id in self.store.disconnected_sessions(self.name, count):
            if self.store.move(client_id, self.name, random.choice(recipients)):
                moved += 1
        return moved

    # node-local status ------------------------------------------------------------------
    def local_status(self):
        if self.evacuation is not None:
            return self.evacuation.local_status()
        if self.donor is not None:
            return self.donor_status()
        return {"status": "disabled"}

    def donor_status(self):
        coordinator = self.donor["coordinator"]
        entry = (self.members().get(coordinator) or {}).get("rebalance") or {}
        counts = self.counts()
        out = {"status": "enabled", "process": "rebalance", "state": entry.get("state", "wait_health_check"),
               "coordinator_node": coordinator}
        keys = ["connection_eviction_rate", "session_eviction_rate", "recipients", "connection_goal",
                "disconnected_session_goal"]
        if versions.has_rpc_timeouts(self.version):
            keys[2:2] = ["connection_eviction_rpc_timeout", "session_eviction_rpc_timeout"]
        for key in keys:
            if key in entry:
                out[key] = entry[key]
        out["stats"] = {"initial_connected": self.donor["initial_connected"],
                        "initial_sessions": self.donor["initial_sessions"],
                        "current_connected": counts["live"], "current_sessions": counts["sessions"],
                        "current_disconnected_sessions": counts["disconnected"]}
        return out

    def publish(self):
        """Write this node's view to the shared store now (other nodes read it from there)."""
        if self.shutting_down:
            return
        evac = self.evacuation.global_entry() if self.evacuation else None
        reb = self.coordinator.global_entry() if self.coordinator else None
        self.store.heartbeat(self.name, len(self.conns), self.agent, self.local_status(), evac, reb)

    # lifecycle --------------------------------------------------------------------------
    async def heartbeat_loop(self):
        last = last_link_check = 0.0
        loop = asyncio.get_running_loop()
        while True:
            try:
                if loop.time() - last_link_check >= HEARTBEAT_EVERY and self.agent is not None \
                        and self.agent["kind"] == "rebalance" and self.coordinator is None:
                    last_link_check = loop.time()
                    # The donor's agent is linked to the coordinator: it goes when the coordinator goes.
                    coordinator = self.agent.get("coordinator")
                    if coordinator != self.name and not await self.reachable(coordinator):
                        log.warning("rebalance coordinator %s is gone; disabling the agent", coordinator)
                        self.disable_agent("rebalance")
                # Connection counts are published soon after they change, at most every 0.1 s.
                now = loop.time()
                if self.dirty or now - last >= HEARTBEAT_EVERY:
                    self.dirty = False
                    last = now
                    self.publish()
            except Exception:
                log.exception("heartbeat failed")
            await asyncio.sleep(0.1)

    async def start(self):
        self.store.define([self.name])
        await self.discard_owned()  # sessions of a previous life died with it
        self.store.boot(self.name)
        if self.networked:
            await self.ping_peers()  # know who answers before answering /nodes
        resumed = Evacuation.resume(self)
        if resumed is not None:
            print("Node evacuation is enabled. The node will not receive connections.", flush=True)
            self.evacuation = resumed
            resumed.launch()
        self.mqtt_server = await asyncio.start_server(
            lambda r, w: relay.handle_client(self, r, w), self.bind_address(), self.spec["mqtt_port"],
            reuse_address=True, backlog=2048)
        self.runners = []
        for port, app in ((self.spec["api_port"], api_v5.app(self)),
                          (self.spec.get("api_v4_port"), api_v4.app(self) if self.spec.get("api_v4_port") else None)):
            if app is None:
                continue
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            await web.TCPSite(runner, self.bind_address(), port, reuse_address=True, backlog=2048).start()
            self.runners.append(runner)
        self.heartbeat_task = asyncio.ensure_future(self.heartbeat_loop())
        self.ping_task = asyncio.ensure_future(self.ping_loop()) if self.networked else None
        log.info("node %s (%s) up: mqtt %s api %s", self.name, self.version, self.spec["mqtt_port"], self.spec["api_port"])

    def bind_address(self):
        """Every address of the container on a lab network: its own one goes away in a partition
        and comes back when healed, and a socket bound to all of them lives through that."""
        return "0.0.0.0" if self.networked else "127.0.0.1"

    async def stop(self):
        """Graceful stop: clients are cut, and sessions held only in this node's memory are lost."""
        self.shutting_down = True
        self.heartbeat_task.cancel()
        if self.ping_task is not None:
            self.ping_task.cancel()
        if self.coordinator is not None:
            await self.coordinator.abort("coordinator_stopped")
        if self.evacuation is not None:
            self.evacuation.cancel()
        self.store.mark_stopped(self.name)
        self.mqtt_server.close()
        # Sessions are marked as going away before clients are cut, so that a client racing to
        # another node waits for the discard instead of taking over a session that is gone.
        dying = asyncio.ensure_future(self.discard_owned())
        await asyncio.sleep(0.05)
        for conn in list(self.conns.values()):
            conn.close_abruptly()
        await dying
        for runner in self.runners:
            await runner.cleanup()
        await self.rpc.close()


async def amain(workdir, name):
    node = Node(workdir, name)
    await node.start()
    done = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, done.set)
    await done.wait()
    await node.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--name", required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    # Each client holds two sockets here (client side and mosquitto side).
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY else 65536, hard))
    asyncio.run(amain(os.path.abspath(args.workdir), args.name))


if __name__ == "__main__":
    main()
