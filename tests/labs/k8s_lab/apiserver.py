"""A Kubernetes API server for custom resources, served over HTTP with aiohttp.

    python -m k8s_lab.apiserver --port N --token T --data DIR/objects.json --cert C --key K

The real ``kubernetes`` Python client and ``kubectl`` talk to it unchanged: discovery, CRDs,
get/list/create/replace/patch/delete of custom objects, the ``status`` subresource, watch
streams that resume from a resourceVersion, Table output for ``kubectl get``, OpenAPI v3 for
``kubectl apply``'s field validation, and the operator's Deployment (read-only ``apps/v1``)."""
import argparse
import asyncio
import json
import ssl

from aiohttp import web

from k8s_lab import builtin_kinds, crds, errors, openapi, selectors, store, tables, webhooks

WATCH_LIMIT = 600.0
VERSION = {"major": "1", "minor": "32", "gitVersion": "v1.32.0-zdt-lab", "platform": "linux/amd64"}


def _json(data, status=200):
    return web.Response(text=json.dumps(data), status=status, content_type="application/json")


def _failure(exc):
    return _json(exc.body(), status=exc.code)


FIELD_VALIDATION = ("Strict", "Warn", "Ignore")
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")


class ApiServer:
    def __init__(self, data_path, token):
        self.store = store.Store(data_path, admission=list(webhooks.ALL))
        self.token = token

    # discovery -----------------------------------------------------------------------------
    def _groups(self):
        groups = {}
        for definition in self.store.definitions.values():
            versions = groups.setdefault(definition.group, [])
            for version, info in definition.versions.items():
                if version not in versions:
                    versions.insert(0, version) if info["storage"] else versions.append(version)
        return groups

    def _group_body(self, group, versions):
        entries = [{"groupVersion": "%s/%s" % (group, v), "version": v} for v in versions]
        return {"kind": "APIGroup", "apiVersion": "v1", "name": group, "versions": entries, "preferredVersion": entries[0]}

    async def version(self, _request):
        return _json(VERSION)

    async def core_versions(self, _request):
        return _json({"kind": "APIVersions", "versions": ["v1"],
                      "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]})

    async def core_resources(self, _request):
        return _json({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "v1", "resources": []})

    async def group_list(self, _request):
        return _json({"kind": "APIGroupList", "apiVersion": "v1",
                      "groups": [self._group_body(g, v) for g, v in sorted(self._groups().items())]})

    async def group(self, request):
        versions = self._groups().get(request.match_info["group"])
        if not versions:
            return _failure(errors.ApiStatus(404, "NotFound", "the server could not find the requested resource"))
        return _json(self._group_body(request.match_info["group"], versions))

    async def resources(self, request):
        group, version = request.match_info["group"], request.match_info["version"]
        resources = []
        for definition in self.store.definitions.values():
            if definition.group != group or version not in definition.versions:
                continue
            verbs = ["delete", "deletecollection", "get", "list", "patch", "create", "update", "watch"]
            if definition.read_only(version):
                verbs = list(builtin_kinds.READ_ONLY_VERBS)
            resources.append({"name": definition.plural, "singularName": definition.singular,
                              "namespaced": definition.namespaced, "kind": definition.kind, "verbs": verbs,
                              "shortNames": definition.short_names, "categories": definition.categories,
                              "storageVersionHash": ""})
            if definition.has_status(version):
                resources.append({"name": definition.plural + "/status", "singularName": "", "namespaced": definition.namespaced,
                                  "kind": definition.kind,
                                  "verbs": ["get"] if definition.read_only(version) else ["get", "patch", "update"]})
        if not resources:
            return _failure(errors.ApiStatus(404, "NotFound", "the server could not find the requested resource"))
        return _json({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "%s/%s" % (group, version),
                      "resources": resources})

    # objects -------------------------------------------------------------------------------
    def _target(self, request):
        info = request.match_info
        definition = self.store.definition(info["group"], info["version"], info["plural"])
        if definition is None:
            raise errors.ApiStatus(404, "NotFound", "the server could not find the requested resource")
        namespace = info.get("namespace")
        if namespace is not None and not definition.namespaced:
            raise errors.ApiStatus(404, "NotFound", "the server could not find the requested resource")
        if request.method in WRITE_METHODS and definition.read_only(info["version"]):
            raise errors.ApiStatus(405, "MethodNotAllowed", "the lab serves %s read-only" % definition.resource)
        return definition, info["version"], namespace

    def _validation(self, request):
        self.store.warnings = []
        directive = request.query.get("fieldValidation") or "Warn"
        if directive not in FIELD_VALIDATION:
            raise errors.bad_request('fieldValidation must be one of "Ignore", "Warn", or "Strict", got %r' % directive)
        return directive

    def _written(self, data, status=200):
        """A write's response, with a Warning header per pruned unknown field (fieldValidation=Warn)."""
        response = _json(data, status=status)
        for warning in self.store.warnings:
            response.headers.add("Warning", '299 - "%s"' % warning.replace('"', '\\"'))
        return response

    @staticmethod
    def _wants_table(request):
        return "as=Table" in request.headers.get("Accept", "")

    async def collection(self, request):
        try:
            definition, version, namespace = self._target(request)
            if request.method == "POST":
                body = await self._body(request)
                if definition.namespaced and namespace is None:
                    raise errors.ApiStatus(405, "MethodNotAllowed", "create needs a namespace in the URL")
                validation = self._validation(request)
                return self._written(self.store.create(definition, version, namespace, body, validation), status=201)
            match = selectors.matcher(request.query.get("labelSelector"), request.query.get("fieldSelector"))
            if request.query.get("watch") in ("true", "1"):
                return await self._watch(request, definition, version, namespace, match)
            listing = self.store.list(definition, version, namespace, match)
            if self._wants_table(request):
                return _json(tables.table(definition, version, listing["items"], listing["metadata"]["resourceVersion"]))
            return _json(listing)
        except errors.ApiStatus as exc:
            return _failure(exc)

    async def item(self, request):
        try:
            definition, version, namespace = self._target(request)
            name = request.match_info["name"]
            subresource = request.match_info.get("subresource")
            if subresource not in (None, "status") or (subresource and not definition.has_status(version)):
                raise errors.ApiStatus(404, "NotFound", "the server could not find the requested resource")
            if request.method == "GET":
                obj = self.store.get(definition, version, namespace, name)
                if self._wants_table(request):
                    return _json(tables.table(definition, version, [obj]))
                return _json(obj)
            if request.method == "PUT":
                validation = self._validation(request)
                return self._written(self.store.replace(definition, version, namespace, name, await self._body(request),
                                                        subresource, validation))
            if request.method == "PATCH":
                validation = self._validation(request)
                return self._written(self.store.patch(definition, version, namespace, name,
                                                      request.headers.get("Content-Type"), await self._body(request),
                                                      subresource, validation))
            if request.method == "DELETE":
                return _json(self.store.delete(definition, version, namespace, name))
            raise errors.ApiStatus(405, "MethodNotAllowed", "method not allowed")
        except errors.ApiStatus as exc:
            return _failure(exc)

    @staticmethod
    async def _body(request):
        try:
            return json.loads(await request.text() or "null")
        except ValueError as exc:
            raise errors.bad_request("the request body is not JSON: %s" % exc)

    async def _watch(self, request, definition, version, namespace, match):
        try:
            timeout = min(float(request.query.get("timeoutSeconds") or WATCH_LIMIT), WATCH_LIMIT)
        except ValueError:
            raise errors.bad_request("timeoutSeconds must be a number")
        since = request.query.get("resourceVersion")
        pending = []
        if since in (None, "", "0"):
            revision = self.store.revision
            pending = [(revision, "ADDED", obj) for obj in self.store.list(definition, version, namespace)["items"]]
        else:
            try:
                revision = int(since)
            except ValueError:
                raise errors.bad_request("resourceVersion must be an integer")
            if self.store.events_since(definition, version, namespace, revision) is None:
                raise errors.ApiStatus(410, "Expired", "too old resource version: %s (%s)" % (since, self.store.revision))
        response = web.StreamResponse(headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"})
        await response.prepare(request)
        wakeup = asyncio.Event()
        self.store.listeners.append(wakeup.set)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            while True:
                for rev, event_type, obj in pending:
                    revision = max(revision, rev)
                    if match is None or match(obj):
                        await response.write((json.dumps({"type": event_type, "object": obj}) + "\n").encode())
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    await asyncio.wait_for(wakeup.wait(), timeout=remaining)
                except asyncio.TimeoutError:
                    break
                wakeup.clear()
                pending = self.store.events_since(definition, version, namespace, revision) or []
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self.store.listeners.remove(wakeup.set)
        return response

    # OpenAPI -------------------------------------------------------------------------------
    async def openapi_index(self, _request):
        return _json(openapi.index(self.store.definitions.values()))

    async def openapi_document(self, request):
        doc = openapi.document(self.store.definitions.values(), request.match_info["group"], request.match_info["version"])
        if doc is None:
            return _failure(errors.ApiStatus(404, "NotFound", "the server could not find the requested resource"))
        return _json(doc)

    # wiring --------------------------------------------------------------------------------
    @web.middleware
    async def auth(self, request, handler):
        if self.token and request.headers.get("Authorization") != "Bearer " + self.token:
            return _json({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                          "message": "Unauthorized", "reason": "Unauthorized", "code": 401}, status=401)
        return await handler(request)

    def app(self):
        application = web.Application(middlewares=[self.auth])
        base = "/apis/{group}/{version}"
        add = application.router.add_route
        add("GET", "/version", self.version)
        add("GET", "/version/", self.version)
        add("GET", "/api", self.core_versions)
        add("GET", "/api/v1", self.core_resources)
        add("GET", "/apis", self.group_list)
        add("GET", "/apis/{group}", self.group)
        add("GET", base, self.resources)
        add("GET", "/openapi/v3", self.openapi_index)
        add("GET", "/openapi/v3/apis/{group}/{version}", self.openapi_document)
        # namespaced paths first: "/namespaces/NS/PLURAL" would otherwise read as "/PLURAL/NAME/SUB"
        for prefix in (base + "/namespaces/{namespace}", base):
            add("*", prefix + "/{plural}", self.collection)
            add("*", prefix + "/{plural}/{name}", self.item)
            add("*", prefix + "/{plural}/{name}/{subresource}", self.item)
        return application

    def seed_operator(self, version):
        """The operator's Deployment, as the Helm chart installs it (kept across restarts)."""
        self.store.seed(store.DEPLOYMENT_DEFINITION, "v1", builtin_kinds.operator_deployment(version))

    def install_crds(self, operator_version=None):
        """The CRDs of that operator version (2.2.29 when not given), unless already stored."""
        definition = store.CRD_DEFINITION
        for crd in crds.for_operator(operator_version or builtin_kinds.DEFAULT_OPERATOR_VERSION):
            try:
                self.store.get(definition, store.CRD_VERSION, None, crd["metadata"]["name"])
            except errors.ApiStatus:
                self.store.create(definition, store.CRD_VERSION, None, crd)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--token", default="")
    parser.add_argument("--data", required=True, help="JSON file that keeps the objects across restarts")
    parser.add_argument("--install-crds", action="store_true")
    parser.add_argument("--operator-version", help="also serve the EMQX Operator's Deployment with this image tag (and install its CRDs)")
    parser.add_argument("--cert", help="serve HTTPS with this certificate (PEM) ...")
    parser.add_argument("--key", help="... and this private key")
    args = parser.parse_args(argv)
    server = ApiServer(args.data, args.token)
    if args.install_crds:
        server.install_crds(args.operator_version)
    if args.operator_version:
        server.seed_operator(args.operator_version)
    context = None
    if args.cert:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.cert, args.key)
    web.run_app(server.app(), host=args.host, port=args.port, ssl_context=context, print=None)


if __name__ == "__main__":
    main()
