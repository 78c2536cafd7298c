"""Node evacuation (reference §3.1), running on the evacuated node:
waiting_health_check -> evicting_conns -> waiting_takeover -> evicting_sessions -> prohibiting.
Options are persisted in <data_dir>/.evacuation and the process resumes at boot."""
import asyncio
import json
import logging
import os

from emqx_lab import versions

log = logging.getLogger("emqx_lab.evacuation")
DEFAULTS = {"conn_evict_rate": 500, "sess_evict_rate": 500, "wait_takeover": 60, "wait_health_check": 60}
NO_NODES_RETRY = 30
FILENAME = ".evacuation"


class Evacuation:
    def __init__(self, node, opts, state):
        self.node = node
        self.opts = dict(DEFAULTS, **{k: v for k, v in opts.items() if v is not None})
        self.state = state
        self.task = None
        counts = node.counts()
        self.stats = {"initial_connected": counts["live"], "current_connected": counts["live"],
                      "initial_sessions": counts["sessions"], "current_sessions": counts["sessions"]}

    # persistence ------------------------------------------------------------------------
    @staticmethod
    def _path(node):
        return os.path.join(node.data_dir, FILENAME)

    def _persist(self):
        data = {key: self.opts.get(key) for key in ("server_reference", "conn_evict_rate", "sess_evict_rate",
                                                    "wait_takeover")}
        tmp = self._path(self.node) + ".tmp"
        with open(tmp, "w") as handle:
            json.dump(data, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self._path(self.node))

    @classmethod
    def resume(cls, node):
        """At boot: a persisted evacuation resumes in evicting_conns, migrate_to reset."""
        try:
            with open(cls._path(node)) as handle:
                saved = json.load(handle)
        except (FileNotFoundError, ValueError):
            return None
        if node.agent is not None:
            os.unlink(cls._path(node))
            return None
        evac = cls(node, {k: v for k, v in saved.items() if k in DEFAULTS or k == "server_reference"},
                   "evicting_conns")
        node.enable_agent("evacuation", False, evac.opts.get("server_reference"))
        return evac

    # start / stop -----------------------------------------------------------------------
    @classmethod
    def start(cls, node, opts):
        if node.evacuation is not None:
            return "already_started"
        if node.agent is not None:
            return "eviction_agent_busy"
        waits = versions.evacuation_waits_for_health_check(node.version)
        evac = cls(node, opts, "waiting_health_check" if waits else "evicting_conns")
        allow = waits and versions.connections_allowed_during_health_check(node.version)
        node.enable_agent("evacuation", allow, evac.opts.get("server_reference"))
        evac._persist()
        node.evacuation = evac
        node.publish()
        evac.launch()
        return "ok"

    def launch(self):
        self.task = asyncio.ensure_future(self._run())

    def cancel(self):
        if self.task is not None:
            self.task.cancel()

    def stop(self):
        self.cancel()
        try:
            os.unlink(self._path(self.node))
        except FileNotFoundError:
            pass
        self.node.evacuation = None
        self.node.disable_agent("evacuation")
        self.node.publish()

    # the state machine ------------------------------------------------------------------
    def _enter(self, state):
        self.state = state
        self.node.publish()

    async def _run(self):
        try:
            if self.state == "waiting_health_check":
                await asyncio.sleep(self.opts["wait_health_check"])
                self.node.agent["allow_connections"] = False
                self._enter("evicting_conns")
            await self._evict_conns()
            self._enter("waiting_takeover")
            await asyncio.sleep(self.opts["wait_takeover"])
            self._enter("evicting_sessions")
            await self._evict_sessions()
            self._enter("prohibiting")
            log.info("evacuation of %s reached prohibiting", self.node.name)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("evacuation loop crashed")

    async def _evict_conns(self):
        while True:
            live = len(self.node.conns)
            self.stats["current_connected"] = live
            if live == 0:
                return
            self.node.evict_connections(self.opts["conn_evict_rate"])
            await asyncio.sleep(1)

    async def _evict_sessions(self):
        while True:
            sessions = self.node.counts()["sessions"]
            self.stats["current_sessions"] = sessions
            if sessions == 0:
                return
            targets = self.recipients()
            if not targets:
                log.warning("no_nodes_to_evacuate_sessions")
                await asyncio.sleep(NO_NODES_RETRY)
                continue
            self.node.evict_sessions(self.opts["sess_evict_rate"], targets)
            await asyncio.sleep(1)

    def recipients(self):
        """Of the nodes migrate_to named (all other nodes when it named none), those that can take
        sessions now: running, their own eviction agent off. EMQX keeps migrate_to as started and works
        this out again at every eviction tick and every status call (migrate_to/1 in
        apps/emqx_node_rebalance/src/emqx_node_rebalance_evacuation.erl), so session_recipients
        shrinks while a recipient is down or evacuating and grows back when it returns."""
        return self.node.available_recipients(self.opts.get("migrate_to") or None)

    # reporting --------------------------------------------------------------------------
    def _body(self):
        return {"state": self.state,
                "connection_eviction_rate": self.opts["conn_evict_rate"],
                "session_eviction_rate": self.opts["sess_evict_rate"],
                "connection_goal": 0, "session_goal": 0,
                "session_recipients": self.recipients(),
                "stats": dict(self.stats)}

    def local_status(self):
        return dict({"status": "enabled", "process": "evacuation"}, **self._body())

    def global_entry(self):
        return dict({"node": self.node.name}, **self._body())
