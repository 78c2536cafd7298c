"""Node-to-node calls (the lab's stand-in for Erlang RPC): POST /_lab/rpc/<op> on the peer's
API port. A call to the local node runs in-process, as erpc does."""
import asyncio
import math

import aiohttp
from aiohttp import web

from emqx_lab import versions

DEFAULT_TIMEOUT = 15.0


class RpcError(Exception):
    """The call did not complete: reason is what EMQX would print (nodedown, timeout, ...)."""

    def __init__(self, node, reason):
        super().__init__("%s: %s" % (node, reason))
        self.node = node
        self.reason = reason


class Client:
    def __init__(self, node):
        self.node = node
        self.session = None

    async def close(self):
        if self.session is not None:
            await self.session.close()

    async def call(self, target, op, timeout=DEFAULT_TIMEOUT, **kwargs):
        if target == self.node.name:
            return await dispatch(self.node, op, kwargs)
        if self.session is None:
            self.session = aiohttp.ClientSession()
        url = "http://%s:%d/_lab/rpc/%s" % (self.node.address_of(target), self.node.api_port_of(target), op)
        try:
            async with self.session.post(url, json=kwargs, timeout=aiohttp.ClientTimeout(total=timeout)) as resp:
                if resp.status != 200:
                    raise RpcError(target, "{badrpc,%s}" % resp.status)
                reply = await resp.json()
                if "rpc_error" in reply:
                    raise RpcError(target, reply["rpc_error"])
                return reply["result"]
        except asyncio.TimeoutError:
            raise RpcError(target, "timeout")
        except aiohttp.ClientError:
            raise RpcError(target, "nodedown")


async def dispatch(node, op, args):
    """Operations a peer may ask of this node; results are JSON-able."""
    if op == "ping":
        return "pong"
    if op == "view":  # asked by labctl: whom this node sees running, and whether it is restarting after a partition
        return {"running": node.running_nodes(), "settled": node.alone_since is None and node.healing is None}
    if op == "stats":
        counts = node.counts()
        return {"live": counts["live"], "sessions": counts["sessions"], "disconnected": counts["disconnected"]}
    if op == "evacuation_start":
        from emqx_lab.evacuation import Evacuation

        return Evacuation.start(node, args["opts"])
    if op == "evacuation_stop":
        if node.evacuation is None:
            return "not_started"
        node.evacuation.stop()
        return "ok"
    if op == "rebalance_start":
        from emqx_lab.rebalance import Coordinator

        return await Coordinator.start(node, args["opts"])
    if op == "rebalance_stop":
        if node.coordinator is None:
            return "not_started"
        await node.coordinator.stop()
        return "ok"
    if op == "agent_enable":
        # Whether a donor still accepts clients during wait_health_check depends on its own version.
        allow = args["allow_connections"] and versions.connections_allowed_during_health_check(node.version)
        result = node.enable_agent("rebalance", allow, coordinator=args["coordinator"])
        if result == "ok" and node.donor is None:
            counts = node.counts()
            node.donor = {"coordinator": args["coordinator"], "initial_connected": counts["live"],
                          "initial_sessions": counts["sessions"]}
        return result
    if op == "agent_disable":
        if node.agent is not None and node.agent.get("coordinator") == args["coordinator"]:
            node.disable_agent("rebalance")
        return "ok"
    if op == "evict_conns":
        return node.evict_connections(int(math.ceil(args["count"])))
    if op == "evict_sessions":
        return node.evict_sessions(int(math.ceil(args["count"])), args["recipients"])
    raise web.HTTPNotFound(text="unknown rpc %s" % op)


async def handle(request):
    node = request.app["node"]
    args = await request.json()
    try:
        result = await dispatch(node, request.match_info["op"], args)
    except RpcError as exc:
        # A call this node made on the caller's behalf failed (e.g. a donor refused).
        return web.json_response({"rpc_error": exc.reason})
    return web.json_response({"result": result})
