"""EMQX 4.4 Enterprise management API of a lab node (reference §2), served on its own port:
AppID/AppSecret Basic auth, the {"code":0,"data":...} envelope, errors as HTTP 200 with
{"code":400,"message":...}, bare status/global_status."""
import json

from aiohttp import web

from emqx_lab import api_fault, auth, rpc, schema, versions, views

PREFIX = "/api/v4"


def ok(data):
    return web.json_response({"code": 0, "data": data})


def failed(message, code=400):
    return web.json_response({"code": code, "message": message})


@web.middleware
async def authenticate(request, handler):
    node = request.app["node"]
    if request.path.startswith(PREFIX + "/") and api_fault.active(node.workdir, node.name):
        return web.json_response({"code": 503, "message": "Service Unavailable"}, status=503)
    public = request.path == PREFIX + "/load_rebalance/availability_check" and \
        versions.availability_check_public(node.version)
    if not public and not auth.check_v4(node.cfg["credentials"], request.headers.get("Authorization")):
        # The body of a 4.4 auth failure is not in the reference; only the 401 is relied upon.
        return web.json_response({"message": "Authentication failed"}, status=401,
                                 headers={"WWW-Authenticate": 'Basic realm="emqx"'})
    return await handler(request)


def _v4_node(obj, node):
    """A running node as 4.4's node_info/1 (apps/emqx_management/src/emqx_mgmt.erl) shows it: its
    'connections' is ets:info(emqx_channel, size), every channel, disconnected persistent sessions
    included; 'live_connections' (connected clients) only from 4.4.19."""
    out = {"node": obj["node"], "node_status": "Running", "version": obj["version"],
           "otp_release": "24.3.4.2/12.3.2.2", "uptime": "%d seconds" % (obj["uptime"] // 1000),
           "connections": obj["connections"], "max_fds": obj["max_fds"],
           "load1": "0.00", "load5": "0.00", "load15": "0.00",
           "memory_total": "0.00G", "memory_used": "0.00G",
           "process_available": obj["process_available"], "process_used": obj["process_used"]}
    if versions.v4_nodes_have_live_connections(node.version):
        out["live_connections"] = obj["live_connections"]
    return out


async def nodes(request):
    # Stopped members are not listed at all: emqx_mgmt:list_nodes/0 gives them as bare node info
    # that the {Node, Info} pattern of emqx_mgmt_api_nodes.erl's list/2 does not match.
    node = request.app["node"]
    return ok([_v4_node(obj, node) for obj in views.node_objects(node) if obj["node_status"] == "running"])


async def one_node(request):
    node = request.app["node"]
    for obj in views.node_objects(node):
        if obj["node"] == request.match_info["node"] and obj["node_status"] == "running":
            return ok(_v4_node(obj, node))
    return failed("node_not_found", 404)


async def stats(request):
    node = request.app["node"]
    out = []
    for obj in views.stats_objects(node):
        values = {k: v for k, v in obj.items() if k != "node"}
        out.append({"node": obj["node"], "stats": values})
    return ok(out)


async def local_status(request):
    body = request.app["node"].local_status()
    return web.json_response(body)


async def global_status(request):
    body = views.global_status(request.app["node"])
    body.pop("purges", None)
    return web.json_response(body)


async def availability_check(request):
    if request.app["node"].agent is not None:
        return web.json_response({"code": 503, "message": "Node Evacuating"}, status=503)
    return web.json_response({})


async def _operation(request, validator, op, list_field=None):
    node = request.app["node"]
    target = request.match_info["node"]
    opts = {}
    if validator is not None:
        raw = await request.read()
        try:
            body = json.loads(raw) if raw.strip() else {}
            opts = validator(body, node.version)
        except (ValueError, schema.Invalid) as exc:
            return failed(str(exc))
    if target not in node.running_nodes():
        return failed("Node not found: %s" % target, 404)
    if list_field and list_field in opts:
        problem = views.check_nodes(node, opts[list_field])
        if problem:
            return failed(problem[1])
    # The 4.x API maps redirect_to to the MQTT 5 Server Reference (unlike 5.x REST, §2).
    if "redirect_to" in opts:
        opts["server_reference"] = opts.pop("redirect_to")
    try:
        result = await node.rpc.call(target, op, opts=opts)
    except rpc.RpcError as exc:
        return failed("Error communicating with node %s: %s" % (exc.node, exc.reason))
    if result != "ok":
        return failed(result)
    return ok([])


async def rebalance_start(request):
    return await _operation(request, schema.rebalance_v4, "rebalance_start", "nodes")


async def rebalance_stop(request):
    return await _operation(request, None, "rebalance_stop")


async def evacuation_start(request):
    return await _operation(request, schema.evacuation_v4, "evacuation_start", "migrate_to")


async def evacuation_stop(request):
    return await _operation(request, None, "evacuation_stop")


def app(node):
    application = web.Application(middlewares=[authenticate])
    application["node"] = node
    r = application.router
    r.add_get(PREFIX + "/nodes", nodes)
    r.add_get(PREFIX + "/nodes/{node}", one_node)
    r.add_get(PREFIX + "/stats", stats)
    r.add_get(PREFIX + "/load_rebalance/status", local_status)
    r.add_get(PREFIX + "/load_rebalance/global_status", global_status)
    r.add_get(PREFIX + "/load_rebalance/availability_check", availability_check)
    r.add_post(PREFIX + "/load_rebalance/{node}/start", rebalance_start)
    r.add_post(PREFIX + "/load_rebalance/{node}/stop", rebalance_stop)
    r.add_post(PREFIX + "/load_rebalance/{node}/evacuation/start", evacuation_start)
    r.add_post(PREFIX + "/load_rebalance/{node}/evacuation/stop", evacuation_stop)
    return application
