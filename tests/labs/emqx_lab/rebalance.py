"""Load rebalance (reference §3.2, §3.3, §3.6), running on the coordinator:
wait_health_check -> evicting_conns -> wait_takeover -> evicting_sessions -> done (entry vanishes).
Any failing participant aborts the whole rebalance."""
import asyncio
import logging

from emqx_lab import versions
from emqx_lab.rpc import RpcError

log = logging.getLogger("emqx_lab.rebalance")
DEFAULTS = {"wait_health_check": 60, "conn_evict_rate": 500, "sess_evict_rate": 500,
            "abs_conn_threshold": 1000, "rel_conn_threshold": 1.1, "abs_sess_threshold": 1000,
            "rel_sess_threshold": 1.1, "wait_takeover": 60, "conn_evict_rpc_timeout": 15000,
            "sess_evict_rpc_timeout": 15000}


def _avg(values):
    return sum(values) / len(values) if values else 0.0


def balanced(donor_avg, recipient_avg, abs_threshold, rel_threshold):
    return donor_avg <= recipient_avg + abs_threshold or donor_avg <= recipient_avg * rel_threshold


class Aborted(Exception):
    pass


class Coordinator:
    def __init__(self, node, opts, nodes, donors, recipients):
        self.node = node
        self.opts = opts
        self.nodes = nodes
        self.donors = donors
        self.recipients = recipients
        self.state = "wait_health_check"
        self.goals = {}
        self.task = None

    @classmethod
    async def start(cls, node, opts):
        if node.coordinator is not None:
            return "already_started"
        opts = dict(DEFAULTS, **{k: v for k, v in opts.items() if v is not None})
        nodes = opts.get("nodes") or node.running_nodes()
        conn_timeout = opts["conn_evict_rpc_timeout"] / 1000.0
        counts = {}
        for name in nodes:
            counts[name] = await node.rpc.call(name, "stats", timeout=conn_timeout)
        avg = _avg([c["live"] for c in counts.values()])
        donors = [n for n in nodes if counts[n]["live"] >= avg]
        recipients = [n for n in nodes if counts[n]["live"] < avg]
        if not donors or not recipients:
            return "nothing_to_balance"
        conns_ok = balanced(_avg([counts[n]["live"] for n in donors]), _avg([counts[n]["live"] for n in recipients]),
                            opts["abs_conn_threshold"], opts["rel_conn_threshold"])
        sess_ok = balanced(_avg([counts[n]["sessions"] for n in donors]),
                           _avg([counts[n]["sessions"] for n in recipients]),
                           opts["abs_sess_threshold"], opts["rel_sess_threshold"])
        if conns_ok and sess_ok:
            return "nothing_to_balance"
        coordinator = cls(node, opts, nodes, donors, recipients)
        allow = versions.connections_allowed_during_health_check(node.version)
        enabled = []
        for donor in donors:
            try:
                result = await node.rpc.call(donor, "agent_enable", timeout=conn_timeout,
                                             coordinator=node.name, allow_connections=allow)
            except RpcError:
                result = None
            if result != "ok":
                # The coordinator process crashes here in EMQX; the caller sees an RPC error.
                for name in enabled:
                    await coordinator._disable(name)
                raise RpcError(node.name, "{error,{%s,%s}}" % (donor, result or "nodedown"))
            enabled.append(donor)
        node.coordinator = coordinator
        node.publish()
        coordinator.task = asyncio.ensure_future(coordinator._run())
        return "ok"

    def _cancel_loop(self):
        if self.task is not None and self.task is not asyncio.current_task():
            self.task.cancel()

    async def stop(self):
        self._cancel_loop()
        await self._finish()

    async def abort(self, reason):
        log.warning("rebalance aborted: %s", reason)
        self._cancel_loop()
        await self._finish()

    async def _finish(self):
        for donor in self.donors:
            await self._disable(donor)
        if self.node.coordinator is self:
            self.node.coordinator = None
            self.node.publish()

    async def _disable(self, name):
        try:
            await self.node.rpc.call(name, "agent_disable", timeout=2.0, coordinator=self.node.name)
        except RpcError:
            pass

    # the loop ---------------------------------------------------------------------------
    async def _collect(self):
        counts = {}
        timeout = self.opts["conn_evict_rpc_timeout"] / 1000.0
        for name in self.nodes:
            try:
                counts[name] = await self.node.rpc.call(name, "stats", timeout=timeout)
            except RpcError as exc:
                raise Aborted("participant %s failed: %s" % (name, exc.reason))
        return counts

    async def _sleep(self, seconds):
        """Sleep, but notice a participant that died (its link would break)."""
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        while True:
            await self._collect()
            left = end - loop.time()
            if left <= 0:
                return
            await asyncio.sleep(min(1.0, left))

    def _enter(self, state):
        self.state = state
        self.node.publish()

    async def _run(self):
        try:
            await self._sleep(self.opts["wait_health_check"])
            for donor in self.donors:
                await self.node.rpc.call(donor, "agent_enable", coordinator=self.node.name, allow_connections=False)
            self._enter("evicting_conns")
            await self._evict("live", "connection_goal", "donor_conn_avg", "abs_conn_threshold",
                              "rel_conn_threshold", "conn_evict_rate", "evict_conns", "conn_evict_rpc_timeout")
            self._enter("wait_takeover")
            await self._sleep(self.opts["wait_takeover"])
            self._enter("evicting_sessions")
            await self._evict("disconnected", "disconnected_session_goal", "donor_sess_avg", "abs_sess_threshold",
                              "rel_sess_threshold", "sess_evict_rate", "evict_sessions", "sess_evict_rpc_timeout")
            log.info("rebalance finished")
            await self._finish()
        except asyncio.CancelledError:
            raise
        except (Aborted, RpcError) as exc:
            await self.abort(str(exc))
        except Exception:
            log.exception("rebalance crashed")
            await self.abort("crash")

    async def _evict(self, metric, goal_key, avg_key, abs_key, rel_key, rate_key, op, timeout_key):
        while True:
            counts = await self._collect()
            donor_avg = _avg([counts[n][metric] for n in self.donors])
            goal = _avg([counts[n][metric] for n in self.recipients])
            # EMQX keeps the averages of a tick only when it evicts on it (evict_conns/evict_sessions in
            # apps/emqx_node_rebalance/src/emqx_node_rebalance.erl return `ok` with the data unchanged
            # once within thresholds), and the status shows connection_goal, donor_conn_avg and their
            # session twins only once kept (emqx_node_rebalance_status.erl): absent until a tick finds
            # the donors above the goal, then the values of the last such tick.
            if balanced(donor_avg, goal, self.opts[abs_key], self.opts[rel_key]):
                return
            self.goals[goal_key] = float(goal)
            self.goals[avg_key] = float(donor_avg)
            # The full rate from every donor above the goal, however little it has above it
            # (nodes_to_evict in emqx_node_rebalance.erl): the last tick overshoots.
            for donor in self.donors:
                if counts[donor][metric] > goal:
                    kwargs = {"count": self.opts[rate_key]}
                    if op == "evict_sessions":
                        kwargs["recipients"] = self.recipients
                    try:
                        await self.node.rpc.call(donor, op, timeout=self.opts[timeout_key] / 1000.0, **kwargs)
                    except RpcError as exc:
                        raise Aborted("donor %s failed: %s" % (donor, exc.reason))
            await asyncio.sleep(1)

    # reporting --------------------------------------------------------------------------
    def global_entry(self):
        entry = {"node": self.node.name, "coordinator_node": self.node.name, "state": self.state,
                 "connection_eviction_rate": self.opts["conn_evict_rate"],
                 "session_eviction_rate": self.opts["sess_evict_rate"],
                 "donors": list(self.donors), "recipients": list(self.recipients)}
        if versions.has_rpc_timeouts(self.node.version):
            entry["connection_eviction_rpc_timeout"] = self.opts["conn_evict_rpc_timeout"]
            entry["session_eviction_rpc_timeout"] = self.opts["sess_evict_rpc_timeout"]
        entry.update(self.goals)
        return entry
