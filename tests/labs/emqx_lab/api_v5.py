"""REST API v5 of a lab node (reference §1): /api/v5/login, nodes, stats, load_rebalance/*."""
import json

from aiohttp import web

from emqx_lab import api_fault, auth, rpc, schema, versions, views

PREFIX = "/api/v5"
PUBLIC = {PREFIX + "/login"}


def error(status, code, message, headers=None):
    return web.json_response({"code": code, "message": message}, status=status, headers=headers)


@web.middleware
async def authenticate(request, handler):
    node = request.app["node"]
    path = request.path
    if not path.startswith(PREFIX + "/"):
        return await handler(request)
    if api_fault.active(node.workdir, node.name):
        return error(503, "SERVICE_UNAVAILABLE", "Service Unavailable")
    public = path in PUBLIC or (path == PREFIX + "/load_rebalance/availability_check"
                                and versions.availability_check_public(node.version))
    if not public:
        try:
            role = auth.role_v5(node.cfg["credentials"], request.headers.get("Authorization"))
        except auth.Denied as exc:
            headers = {"WWW-Authenticate": 'Basic Realm="emqx-dashboard"'} \
                if exc.code == "AUTHORIZATION_HEADER_ERROR" else None
            return error(exc.status, exc.code, exc.message, headers)
        if role == "viewer" and request.method not in ("GET", "HEAD"):
            return error(403, "UNAUTHORIZED_ROLE", "User don't has permission to access this resource")
    try:
        return await handler(request)
    except web.HTTPNotFound:
        return error(404, "NOT_FOUND", "Request path not found")
    except web.HTTPMethodNotAllowed:
        return error(405, "METHOD_NOT_ALLOWED", "Method not allowed")


async def _body(request):
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except ValueError:
        raise schema.Invalid("invalid JSON body")


async def login(request):
    creds = request.app["node"].cfg["credentials"]
    try:
        body = await _body(request)
    except schema.Invalid as exc:
        return error(400, "BAD_REQUEST", str(exc))
    if not isinstance(body, dict) or body.get("username") != creds["username"] or body.get("password") != creds["password"]:
        return error(401, "BAD_USERNAME_OR_PWD", "Auth failed")
    node = request.app["node"]
    return web.json_response({"token": auth.issue_token(creds, creds["username"]), "version": node.version,
                              "license": {"edition": "ee"}, "role": "administrator"})


async def nodes(request):
    return web.json_response(views.node_objects(request.app["node"]))


async def one_node(request):
    name = request.match_info["node"]
    for obj in views.node_objects(request.app["node"]):
        if obj["node"] == name and obj["node_status"] == "running":
            return web.json_response(obj)
    return error(404, "NOT_FOUND", "Node not found")


async def stats(request):
    objects = views.stats_objects(request.app["node"])
    if request.query.get("aggregate", "false") == "true":
        return web.json_response(views.aggregate(objects))
    return web.json_response(objects)


async def node_stats(request):
    name = request.match_info["node"]
    for obj in views.stats_objects(request.app["node"]):
        if obj["node"] == name:
            return web.json_response(obj)
    return error(404, "NOT_FOUND", "Node not found")


async def local_status(request):
    return web.json_response(request.app["node"].local_status())


async def global_status(request):
    return web.json_response(views.global_status(request.app["node"]))


async def availability_check(request):
    if request.app["node"].agent is not None:
        return error(503, "NODE_EVACUATING", "Node Evacuating")
    return web.json_response({})


async def _operation(request, validator, op, list_field=None):
    node = request.app["node"]
    target = request.match_info["node"]
    opts = {}
    if validator is not None:
        try:
            opts = validator(await _body(request), node.version)
        except schema.Invalid as exc:
            return error(400, "BAD_REQUEST", str(exc))
    if target not in node.running_nodes():
        return error(404, "NOT_FOUND", "Node not found: %s" % target)
    if list_field and list_field in opts:
        problem = views.check_nodes(node, opts[list_field])
        if problem:
            return error(400, problem[0], problem[1])
    # 5.x REST validates redirect_to but never passes it on as the Server Reference (§1.3).
    opts.pop("redirect_to", None)
    try:
        result = await node.rpc.call(target, op, opts=opts)
    except rpc.RpcError as exc:
        return error(503, "RPC_ERROR", "RPC error on node %s: %s" % (views.erlang_atom(exc.node), exc.reason))
    if result != "ok":
        return error(400, "BAD_REQUEST", "error on node %s: %s" % (views.erlang_atom(target), result))
    return web.json_response({})


async def rebalance_start(request):
    return await _operation(request, schema.rebalance_v5, "rebalance_start", "nodes")


async def rebalance_stop(request):
    return await _operation(request, None, "rebalance_stop")


async def evacuation_start(request):
    return await _operation(request, schema.evacuation_v5, "evacuation_start", "migrate_to")


async def evacuation_stop(request):
    return await _operation(request, None, "evacuation_stop")


def app(node):
    application = web.Application(middlewares=[authenticate])
    application["node"] = node
    r = application.router
    r.add_post(PREFIX + "/login", login)
    r.add_get(PREFIX + "/nodes", nodes)
    r.add_get(PREFIX + "/nodes/{node}", one_node)
    r.add_get(PREFIX + "/nodes/{node}/stats", node_stats)
    r.add_get(PREFIX + "/stats", stats)
    r.add_get(PREFIX + "/load_rebalance/status", local_status)
    r.add_get(PREFIX + "/load_rebalance/global_status", global_status)
    r.add_get(PREFIX + "/load_rebalance/availability_check", availability_check)
    r.add_post(PREFIX + "/load_rebalance/{node}/start", rebalance_start)
    r.add_post(PREFIX + "/load_rebalance/{node}/stop", rebalance_stop)
    r.add_post(PREFIX + "/load_rebalance/{node}/evacuation/start", evacuation_start)
    r.add_post(PREFIX + "/load_rebalance/{node}/evacuation/stop", evacuation_stop)
    r.add_post("/_lab/rpc/{op}", rpc.handle)
    return application
