"""MigrationTaskService (/management/migration-tasks) as the reference describes it for 1.6.3+.

Stages as in the code, not the wiki: a first pass stays CREATED until FINISHED/FAILED; only a
continuous restart (or a client PATCH) sets STARTED. Counters live under /stats only; failures in
taskInfo.failure with statusCode 400. Re-posting existing documents gives 409 unless the
destination factory is IDEMPOTENT_POST or DELETE_AFTER is set. A latestSourceUpdateTimeMicros
sent in the POST does not filter the first pass.

Replication and owner selection (MigrationTaskService.java toggles REPLICATION and
OWNER_SELECTION): every green node keeps a replica of every task's state, and only the owner (the
node the selfLink hashes to among the available nodes) runs passes. A replica never starts a pass
when it is created (ServiceHost.java skips handleStart on nodes that do not own the service), nor
when it becomes the owner because the old owner died: the new owner takes the replicated state
and stamps itself as documentOwner (StatefulService.java, synchronization with peers), and its
periodic maintenance (ServiceMaintenanceTracker.java: owners only) restarts only continuous tasks
whose stage is terminal. A task whose owner died mid-pass therefore stays CREATED/STARTED with no
pass running. Stats are the owner's in-memory counters, so a new owner starts them from zero.
"""
import asyncio
import json
import random
from urllib.parse import urlsplit

import aiohttp

from xenon_lab.common import ALREADY_STARTED, NOT_FOUND, dumps, error_body, kind_of, now_micros

FACTORY = "/management/migration-tasks"
TERMINAL = ("FINISHED", "FAILED", "CANCELLED")
HOST_OPERATION_TIMEOUT = 60.0
MERGE_FIELDS = ("sourceReferences", "sourceFactoryLink", "destinationReferences", "destinationFactoryLink",
                "transformationServiceLink", "querySpec", "maintenanceIntervalMicros", "maximumConvergenceChecks",
                "continuousMigration", "operationTimeoutMicros")
PAGE_CONCURRENCY = 100  # the lab bounds a page's parallel POSTs; Xenon sends the whole page at once


class Failure(Exception):
    pass


def _bool(value):
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value)


def _base(uri):
    parts = urlsplit(uri)
    return "%s://%s" % (parts.scheme, parts.netloc)


def normalize(body):
    state = dict(body)
    spec = dict(state.get("querySpec") or {})
    spec.setdefault("resultLimit", 10000)
    options = list(spec.get("options") or [])
    for option in ("EXPAND_CONTENT", "BROADCAST", "OWNER_SELECTION"):
        if option not in options:
            options.append(option)
    spec["options"] = options
    source = state.get("sourceFactoryLink")
    if source:
        prefix = source if source.endswith("/") else source + "/"
        term = {"propertyName": "documentSelfLink", "matchValue": prefix, "matchType": "PREFIX"}
        query = dict(spec.get("query") or {})
        clauses = list(query.get("booleanClauses") or [])
        if clauses:
            clauses.append({"occurance": "MUST_OCCUR", "term": term})
            query["booleanClauses"] = clauses
        else:
            query = {"occurance": "MUST_OCCUR", "term": term}  # a bare custom term is dropped, as in Xenon
        spec["query"] = query
    state["querySpec"] = spec
    state["taskInfo"] = dict(state.get("taskInfo") or {"stage": "CREATED"})
    state["taskInfo"].setdefault("stage", "CREATED")
    state.setdefault("maintenanceIntervalMicros", 60000000)
    state.setdefault("maximumConvergenceChecks", 10)
    state["continuousMigration"] = _bool(state.get("continuousMigration", False))
    options = list(state.get("migrationOptions") or [])
    if state["continuousMigration"] and "CONTINUOUS" not in options:
        options.append("CONTINUOUS")
    state["migrationOptions"] = options
    state["latestSourceUpdateTimeMicros"] = int(state.get("latestSourceUpdateTimeMicros") or 0)
    state["documentExpirationTimeMicros"] = int(state.get("documentExpirationTimeMicros") or 0)
    return state


def validate(state):
    problems = []
    if not state.get("sourceFactoryLink"):
        problems.append("sourceFactoryLink is required.")
    if bool(state.get("sourceNodeGroupReference")) == bool(state.get("sourceReferences")):
        problems.append("Either sourceNodeGroupReference or sourceReferences must be set (not both).")
    if not state.get("destinationFactoryLink"):
        problems.append("destinationFactoryLink is required.")
    if bool(state.get("destinationNodeGroupReference")) == bool(state.get("destinationReferences")):
        problems.append("Either destinationNodeGroupReference or destinationReferences must be set (not both).")
    return " ".join(problems)


class Task:
    def __init__(self, state, token):
        self.state = state
        self.token = token
        self.stats = {}
        self.runner = None
        self.finished_at = 0

    def count(self, name, amount=1):
        self.stats[name] = self.stats.get(name, 0) + amount

    def stats_document(self):
        now = now_micros()
        entries = {name: {"name": name, "latestValue": float(value), "accumulatedValue": float(value),
                          "version": 1, "lastUpdateMicrosUtc": now, "unit": "count",
                          "kind": "com:vmware:xenon:common:ServiceStats:ServiceStat"}
                   for name, value in self.stats.items()}
        return {"entries": entries, "documentSelfLink": self.state["documentSelfLink"] + "/stats",
                "documentKind": "com:vmware:xenon:common:ServiceStats"}


class MigrationService:
    def __init__(self, node, idempotent):
        self.node = node
        self.idempotent = idempotent
        self.tasks = {}

    def local_tasks(self):
        return sorted((t.state for t in self.tasks.values()), key=lambda state: state["documentSelfLink"])

    # ---- replication -------------------------------------------------------------------------

    def replicas(self):
        return {"documents": self.local_tasks(), "tokens": {link: t.token for link, t in self.tasks.items()}}

    def store_replica(self, state, token, dropped=False):
        """A peer's copy of a task: kept, never run (only the owner runs passes)."""
        link = state["documentSelfLink"]
        current = self.tasks.get(link)
        if dropped:
            if current is not None and current.runner is None:
                self.tasks.pop(link, None)
            return
        version = state.get("documentVersion", 0)
        if current is None:
            self.tasks[link] = Task(state, token)
        elif current.runner is None or current.runner.done():
            if version >= current.state.get("documentVersion", 0):
                current.state = state
        elif version > current.state.get("documentVersion", 0):
            # Only the owner changes a task, so a newer version from a peer means the group went on
            # without this node (a partition): its peers took the task over and changed it. Xenon's
            # synchronization keeps the highest version on every node, the owner's included
            # (services/common/NodeSelectorSynchronizationService.java). Nothing in
            # MigrationTaskService stops a pass in flight: the one still running here goes on
            # writing documents, and its end overwrites the stage (run_pass).
            current.state = state

    def changed(self, task):
        """The owner updated the task: new version, replicated to every available peer."""
        state = task.state
        state["documentVersion"] = state.get("documentVersion", 0) + 1
        state["documentUpdateTimeMicros"] = now_micros()
        self.replicate(task)

    def replicate(self, task, dropped=False):
        node = self.node
        payload = {"state": json.loads(dumps(task.state)), "token": task.token, "dropped": dropped}

        async def push(url):
            try:
                await node.call("POST", url + "/lab/internal/task-replica", payload, headers=node.internal_headers(),
                                timeout=5)
            except (aiohttp.ClientError, asyncio.TimeoutError):
                pass  # a peer that missed it catches up from a peer when it (re)starts

        for name in sorted(node.available - {node.id}):
            asyncio.ensure_future(push(node.peers[name]))

    # ---- REST ------------------------------------------------------------------------------

    async def handle(self, request, path, body, raw):
        from xenon_lab.node import FORWARDED, fail, json_response

        node = self.node
        if path == FACTORY:
            if request.method == "GET":
                docs = self.local_tasks()  # every node holds a replica of every task (REPLICATION)
                docs.sort(key=lambda d: d["documentSelfLink"])
                result = {"documentLinks": [d["documentSelfLink"] for d in docs], "documentCount": len(docs)}
                if "expand" in request.query or "$expand" in request.query:
                    result["documents"] = {d["documentSelfLink"]: d for d in docs}
                return json_response(200, result)
            if request.method != "POST" or not isinstance(body, dict):
                return fail(400, "a MigrationTaskService.State body is required")
            link = node.child_link(FACTORY, body.get("documentSelfLink"))
            owner = node.owner(link)
            if owner != node.id and not request.headers.get(FORWARDED):
                response = await node.forward(request, owner, dumps(dict(body, documentSelfLink=link)))
                if response is not None:
                    return response
            return self.create(request, link, body)
        link, unused, suffix = path[len(FACTORY) + 1:].partition("/")
        link = "%s/%s" % (FACTORY, link)
        owner = node.owner(link)
        if owner != node.id and not request.headers.get(FORWARDED):
            response = await node.forward(request, owner, raw)
            if response is not None:
                return response
        task = self.tasks.get(link)
        if task is None:
            return fail(404, "Service not found: %s" % path, NOT_FOUND)
        if suffix == "stats":
            return json_response(200, task.stats_document())
        if suffix:
            return fail(404, "Service not found: %s" % path, NOT_FOUND)
        if request.method == "GET":
            return json_response(200, task.state)
        if request.method == "DELETE":
            self.drop(link)
            self.replicate(task, dropped=True)
            return json_response(200, task.state)
        if request.method == "PATCH":
            self.patch(task, body or {})
            return json_response(200, task.state)
        return fail(405, "%s not supported on %s" % (request.method, link))

    def create(self, request, link, body):
        from xenon_lab.node import fail, json_response

        existing = self.tasks.get(link)
        if existing is not None:
            if not self.idempotent:
                return fail(409, "Service already started: %s stage: AVAILABLE" % link, ALREADY_STARTED)
            existing.state.update({k: v for k, v in body.items() if not k.startswith("document")})
            return json_response(200, existing.state)  # a PUT replaces the state; it does not re-run
        state = normalize(body)
        problem = validate(state)
        if problem:
            return fail(400, problem)
        state.update(documentSelfLink=link, documentKind=kind_of(FACTORY), documentVersion=0,
                     documentUpdateTimeMicros=now_micros(), documentOwner=self.node.id)
        token = request.headers.get("x-xenon-auth-token") or request.cookies.get("xenon-auth-cookie")
        task = Task(state, token)
        self.tasks[link] = task
        self.replicate(task)
        if state["taskInfo"]["stage"] not in TERMINAL:
            # handleStart completes a FINISHED task and returns before a CANCELLED one; a FAILED one
            # gets the self-PATCH, which handlePatch ignores (MigrationTaskService.java)
            self.start(task)
        return json_response(200, state)

    def patch(self, task, body):
        state = task.state
        for name in MERGE_FIELDS:
            if body.get(name) is not None:
                state[name] = _bool(body[name]) if name == "continuousMigration" else body[name]
        if body.get("taskInfo") is not None:
            state["taskInfo"] = dict(body["taskInfo"])
        if body.get("migrationOptions"):
            state["migrationOptions"] = sorted(set(state["migrationOptions"]) | set(body["migrationOptions"]))
        if body.get("documentExpirationTimeMicros"):
            state["documentExpirationTimeMicros"] = int(body["documentExpirationTimeMicros"])
        if body.get("latestSourceUpdateTimeMicros"):
            state["latestSourceUpdateTimeMicros"] = max(state["latestSourceUpdateTimeMicros"],
                                                        int(body["latestSourceUpdateTimeMicros"]))
        self.changed(task)
        if state["taskInfo"].get("stage") not in TERMINAL:
            self.start(task)  # as in Xenon, any PATCH that leaves the task running starts a pass

    def drop(self, link):
        task = self.tasks.pop(link, None)
        if task is not None and task.runner is not None:
            task.runner.cancel()

    def start(self, task):
        task.runner = asyncio.ensure_future(self.run_pass(task))

    async def maintenance_loop(self):
        node = self.node
        while True:
            now = now_micros()
            for link, task in list(self.tasks.items()):
                state = task.state
                if state["documentExpirationTimeMicros"] and state["documentExpirationTimeMicros"] < now:
                    self.drop(link)
                    continue
                if node.owner(link) != node.id or not node.synced:
                    continue  # maintenance runs on the owner only
                if state.get("documentOwner") != node.id:
                    # this node took the task over from an owner that left the group: it keeps the
                    # replicated state as it is (no pass is started) and records itself as owner
                    state["documentOwner"] = node.id
                    self.changed(task)
                stage = state["taskInfo"].get("stage")
                if not state["continuousMigration"] or stage not in TERMINAL:
                    continue
                if now - task.finished_at < state["maintenanceIntervalMicros"]:
                    continue
                if stage == "FINISHED" and state["latestSourceUpdateTimeMicros"]:
                    self.set_restart_clause(state)
                state["taskInfo"] = {"stage": "STARTED"}
                self.changed(task)
                self.start(task)
            await asyncio.sleep(0.1)

    @staticmethod
    def set_restart_clause(state):
        term = {"propertyName": "documentUpdateTimeMicros",
                "range": {"type": "LONG", "min": state["latestSourceUpdateTimeMicros"],
                          "max": 9223372036854775807, "isMinInclusive": True, "isMaxInclusive": True}}
        query = state["querySpec"]["query"]
        if not query.get("booleanClauses"):
            query = {"occurance": "MUST_OCCUR", "booleanClauses": [dict(query, occurance="MUST_OCCUR")]}
        clauses = [c for c in query["booleanClauses"] if (c.get("term") or {}).get("propertyName") != "documentUpdateTimeMicros"]
        clauses.append({"occurance": "MUST_OCCUR", "term": term})
        query["booleanClauses"] = clauses
        state["querySpec"]["query"] = query

    # ---- the pass ----------------------------------------------------------------------------

    def headers(self, task, pragma=None):
        headers = {"x-xenon-auth-token": task.token} if task.token else dict(self.node.internal_headers())
        if pragma:
            headers["pragma"] = pragma
        return headers

    async def get(self, task, url):
        """A request the task does not build through prepareOp (page GETs, node-selector checks): it
        expires after the host's default operation timeout, 60 s (ServiceHost.java)."""
        return await self.node.call("GET", url, headers=self.headers(task), timeout=HOST_OPERATION_TIMEOUT)

    async def prepared(self, task, method, url, body=None, headers=None, timeout=HOST_OPERATION_TIMEOUT):
        """A request the task builds through prepareOp (MigrationTaskService.java): node-group GETs, the
        count and retrieval queries, transformation calls and every write to the destination. With
        operationTimeoutMicros set, it expires after that long (otherwise after the host's default)."""
        micros = int(task.state.get("operationTimeoutMicros") or 0)
        try:
            return await self.node.call(method, url, body, headers=headers or self.headers(task),
                                        timeout=micros / 1e6 if micros > 0 else timeout)
        except asyncio.TimeoutError:
            if micros <= 0:
                raise
            raise Failure("%s %s expired: no answer within operationTimeoutMicros=%d" % (method, url, micros))

    async def resolve(self, task, side):
        state = task.state
        reference = state.get("%sNodeGroupReference" % side)
        if not reference:
            return [_base(u) for u in state["%sReferences" % side]]
        try:
            status, group = await self.prepared(task, "GET", reference, timeout=10)
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise Failure("Failed to get %s node group %s: %s" % (side, reference, exc or type(exc).__name__))
        if status != 200:
            raise Failure("Failed to get %s node group %s: HTTP %s" % (side, reference, status))
        return [_base(n["groupReference"]) for n in group["nodes"].values()
                if n.get("status") not in ("UNAVAILABLE", "REPLACED") and "OBSERVER" not in (n.get("options") or [])]

    async def retry(self, task, check, message):
        """Node-selector and factory-availability checks (MigrationTaskService.java,
        waitNodeSelectorAreStableRetry / waitFactoryIsAvailable): maximumConvergenceChecks checks,
        each failed one followed by a wait of maintenanceIntervalMicros."""
        checks = int(task.state["maximumConvergenceChecks"])
        for _attempt in range(checks):
            try:
                if await check():
                    return
            except (aiohttp.ClientError, asyncio.TimeoutError):
                pass
            await asyncio.sleep(task.state["maintenanceIntervalMicros"] / 1e6)
        raise Failure(message % checks)

    async def wait_converged(self, task, reference):
        """MigrationTaskService.java, waitUntilNodeGroupsAreStable: a first check, then one retry per
        maximumConvergenceChecks (so 11 checks with the default of 10), each after maintenanceIntervalMicros."""
        allowed = int(task.state["maximumConvergenceChecks"])
        while True:
            try:
                if await self.converged(task, reference):
                    return
            except (aiohttp.ClientError, asyncio.TimeoutError, KeyError, TypeError):
                pass
            if allowed <= 0:
                raise Failure("Nodegroups did not converge after %d retries." % task.state["maximumConvergenceChecks"])
            allowed -= 1
            await asyncio.sleep(task.state["maintenanceIntervalMicros"] / 1e6)

    async def converged(self, task, reference):
        """NodeGroupUtils.java, checkConvergence(host, URI, op): GET the group again, then GET the
        groupReference every available node advertises; all must answer with one membershipUpdateTimeMicros."""
        status, group = await self.get(task, reference)
        if status != 200:
            return False
        times = set()
        for state in group["nodes"].values():
            if state.get("status") in ("UNAVAILABLE", "REPLACED") or "OBSERVER" in (state.get("options") or []):
                continue
            status, view = await self.get(task, state["groupReference"])
            if status != 200:
                return False
            times.add(view["membershipUpdateTimeMicros"])
        return len(times) == 1

    async def run_pass(self, task):
        state = task.state
        try:
            sources = await self.resolve(task, "source")
            destinations = await self.resolve(task, "destination")
            for side in ("source", "destination"):
                if state.get("%sNodeGroupReference" % side):
                    await self.wait_converged(task, state["%sNodeGroupReference" % side])
            selector = await self.source_selector(task, sources)
            if selector:
                async def selectors_available():
                    for base in sources:
                        status, data = await self.get(task, base + selector)
                        if status != 200 or data.get("status") != "AVAILABLE":
                            return False
                    return True

                async def factory_available():
                    status, data = await self.get(task, sources[0] + state["sourceFactoryLink"] + "/stats")
                    return status == 200 and data["entries"].get("isAvailable", {}).get("latestValue") == 1.0

                await self.retry(task, selectors_available,
                                 "Failed to verify availability of all source node selector paths after %d retries")
                await self.retry(task, factory_available, "Failed to verify availability of source factory service "
                                 + state["sourceFactoryLink"] + " after %d retries")
            await self.copy(task, sources, destinations, selector)
            outcome = {"stage": "FINISHED", "isDirect": False}
        except Failure as exc:
            outcome = {"stage": "FAILED", "isDirect": False, "failure": error_body(400, str(exc))}
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            outcome = {"stage": "FAILED", "isDirect": False, "failure": error_body(400, "%s: %s" % (type(exc).__name__, exc))}
        # The pass ends with a self-PATCH to the task as it is now: if synchronization replaced its
        # state meanwhile (the node was cut off or frozen and its peers changed the task), the end
        # overwrites the stage they set, as the reference infers from MigrationTaskService.java.
        task.state["taskInfo"] = outcome
        task.state["latestSourceUpdateTimeMicros"] = max(int(task.state.get("latestSourceUpdateTimeMicros") or 0),
                                                         int(state.get("latestSourceUpdateTimeMicros") or 0))
        task.finished_at = now_micros()
        self.changed(task)

    async def source_selector(self, task, sources):
        selectors = set()
        for base in sources:
            try:
                status, config = await self.get(task, base + task.state["sourceFactoryLink"] + "/config")
            except (aiohttp.ClientError, asyncio.TimeoutError):
                status = None
            if status != 200:
                raise Failure("Failed to get source factory config from all source nodes")
            selectors.add(config.get("peerNodeSelectorPath"))
        return sorted(s for s in selectors if s)[0] if any(selectors) else None

    async def copy(self, task, sources, destinations, selector):
        state = task.state
        if "ESTIMATE_COUNT" in state["migrationOptions"]:
            spec = dict(state["querySpec"], options=["COUNT", "BROADCAST", "OWNER_SELECTION"])
            body = {"taskInfo": {"isDirect": True}, "querySpec": spec}
            unused, counted = await self.prepared(task, "POST", random.choice(sources) + "/core/query-tasks", body)
            task.stats["estimatedTotalServiceCount"] = counted["results"]["documentCount"]
        else:
            task.stats["estimatedTotalServiceCount"] = -1
        host = random.choice(sources)
        status, first = await self.prepared(
            task, "POST", host + "/core/local-query-tasks",
            {"taskInfo": {"isDirect": True}, "querySpec": state["querySpec"],
             "nodeSelectorLink": selector or "/core/node-selectors/default",
             "documentExpirationTimeMicros": state["documentExpirationTimeMicros"]}, timeout=120)
        if status != 200:
            raise Failure("Retrieval query on %s failed: %s" % (host, (first or {}).get("message", status)))
        link = first["results"].get("nextPageLink")
        latest = 0
        while link:
            status, page = await self.get(task, host + link)
            if status != 200:
                raise Failure("GET %s%s failed: %s" % (host, link, (page or {}).get("message", status)))
            docs = list((page["results"].get("documents") or {}).values())
            task.count("fetchedDocumentCount", len(docs))
            if docs:
                latest = max([latest] + [d.get("documentUpdateTimeMicros", 0) for d in docs])
                if "ALL_VERSIONS" in state["migrationOptions"]:
                    docs = await self.all_versions(task, host, docs)
                await self.migrate_page(task, docs, destinations)
            link = page["results"].get("nextPageLink")
        if latest:
            state["latestSourceUpdateTimeMicros"] = max(state["latestSourceUpdateTimeMicros"], latest)

    async def all_versions(self, task, host, docs):
        """MigrationTaskService.java, retrieveAllVersions: per document of the page, its retention limit
        from <selfLink>/template, then a direct local query on the page's host with
        INCLUDE_ALL_VERSIONS, ascending by documentVersion, and that query's first page."""
        async def history(doc):
            link = doc["documentSelfLink"]
            status, template = await self.prepared(task, "GET", host + link + "/template", timeout=10)
            if status != 200:
                raise Failure("GET %s%s/template failed: %s" % (host, link, (template or {}).get("message", status)))
            spec = {"query": {"occurance": "MUST_OCCUR", "term": {"propertyName": "documentSelfLink", "matchValue": link,
                                                                  "matchType": "TERM"}},
                    "options": ["INCLUDE_ALL_VERSIONS", "EXPAND_CONTENT"],
                    "resultLimit": int(template["documentDescription"]["versionRetentionLimit"]),
                    "sortTerm": {"propertyName": "documentVersion", "propertyType": "LONG"}, "sortOrder": "ASC"}
            status, first = await self.prepared(task, "POST", host + "/core/local-query-tasks",
                                                {"taskInfo": {"isDirect": True}, "querySpec": spec})
            if status != 200 or not first["results"].get("nextPageLink"):
                raise Failure("history query for %s on %s failed: %s" % (link, host, (first or {}).get("message", status)))
            status, page = await self.prepared(task, "GET", host + first["results"]["nextPageLink"], timeout=10)
            if status != 200:
                raise Failure("history page for %s on %s failed: %s" % (link, host, (page or {}).get("message", status)))
            return [page["results"]["documents"][key] for key in page["results"]["documentLinks"]]

        versions = []
        for result in await asyncio.gather(*(history(d) for d in docs), return_exceptions=True):
            if isinstance(result, BaseException):
                raise result if isinstance(result, Failure) else Failure("%s: %s" % (type(result).__name__, result))
            versions.extend(result)
        return versions

    async def replay(self, task, versions, factory, destinations, send, retry=False):
        """MigrationTaskService.java, createMigrateOpsWithAllVersions: the first version is POSTed with
        xn-force-index-update, each later one by its own action, in order; a DELETE_AFTER retry DELETEs
        first. None, or why it failed."""
        target = random.choice(destinations) + factory.rstrip("/") + "/" + versions[0]["documentSelfLink"].strip("/")
        post = random.choice(destinations) + factory
        steps = [("DELETE", target, None, "xn-from-migration", True)] if retry else []
        steps.append(("POST", post, versions[0], "xn-from-migration;xn-force-index-update", False))
        for version in versions[1:]:
            action = version.get("documentUpdateAction")
            if action == "POST":  # deleted, then created again with the same selfLink
                steps.append(("POST", post, version, "xn-from-migration;xn-force-index-update", False))
            else:
                steps.append((action, target, None if action == "DELETE" else version, "xn-from-migration", action == "DELETE"))
        for method, url, body, pragma, quorum_all in steps:
            problem = await send(method, url, body, pragma, quorum_all)
            if problem:
                return problem
        return None

    async def transform(self, task, doc, destinations):
        state = task.state
        link = state["transformationServiceLink"]
        if "USE_TRANSFORM_REQUEST" in state["migrationOptions"]:
            request = {"originalDocument": json.dumps(doc), "destinationLink": state["destinationFactoryLink"]}
        else:
            request = {json.dumps(doc): state["destinationFactoryLink"]}
        node = random.choice(destinations)
        status, data = await self.prepared(task, "POST", node + link, request, timeout=30)
        if status != 200:
            message = data.get("message") if isinstance(data, dict) else data
            raise Failure("Transformation service %s%s returned %s: %s" % (node, link, status, message))
        mapping = data.get("destinationLinks", {}) if "USE_TRANSFORM_REQUEST" in state["migrationOptions"] else data
        return [(json.loads(key), factory) for key, factory in mapping.items()]

    async def migrate_page(self, task, docs, destinations):
        state = task.state
        prefix = state["sourceFactoryLink"].rstrip("/")
        stripped = []
        for doc in docs:
            copy = dict(doc)
            copy["documentSelfLink"] = copy["documentSelfLink"][len(prefix):]
            stripped.append(copy)
        if state.get("transformationServiceLink"):
            task.count("beforeTransformDocumentCount", len(stripped))
            results = await asyncio.gather(*(self.transform(task, d, destinations) for d in stripped),
                                           return_exceptions=True)
            pairs = []
            for result in results:
                if isinstance(result, BaseException):
                    raise result
                pairs.extend(result)
            task.count("afterTransformDocumentCount", len(pairs))
        else:
            pairs = [(d, state["destinationFactoryLink"]) for d in stripped]
        options = state["migrationOptions"]
        gate = asyncio.Semaphore(PAGE_CONCURRENCY)

        async def send(method, url, body=None, pragma="xn-from-migration", quorum_all=False):
            """None, or why the request failed."""
            headers = self.headers(task, pragma)
            if quorum_all:
                headers["x-xenon-rpl-quorum"] = "x-xenon-all"
            async with gate:
                try:
                    status, data = await self.prepared(task, method, url, body, headers)
                except (aiohttp.ClientError, asyncio.TimeoutError, Failure) as exc:
                    return "%s %s: %s" % (method, url, exc or type(exc).__name__)
            if status == 200:
                return None
            return (data.get("message") if isinstance(data, dict) else data) or "%s %s failed with %s" % (method, url, status)

        def target(doc, factory):
            return random.choice(destinations) + factory.rstrip("/") + "/" + doc["documentSelfLink"].strip("/")

        if "ALL_VERSIONS" in options:
            await self.migrate_all_versions(task, pairs, destinations, send)
            return

        # MigrationTaskService.java, migrateEntitiesForSingleVersion: every document of the page is
        # POSTed, deleted ones (INCLUDE_DELETED) too, and those are DELETEd once the whole page was
        # written. POSTs that failed only for deleted documents are ignored, and then the page's
        # DELETEs are skipped as well; any other failure fails the task, unless DELETE_AFTER
        # (useFallBack) deletes and re-creates those documents, after which the page's DELETEs are
        # skipped too. processedServiceCount grows by the whole page once it was written.
        deleted = [doc.get("documentUpdateAction") == "DELETE" for doc, unused in pairs]
        errors = await asyncio.gather(*(send("POST", random.choice(destinations) + factory, doc) for doc, factory in pairs))
        if any(errors):
            retry = [pair for pair, error, gone in zip(pairs, errors, deleted) if error and not gone]
            if not retry:
                return
            if "DELETE_AFTER" not in options:
                raise Failure(next(error for error in errors if error))
            problems = await asyncio.gather(*(send("DELETE", target(doc, factory), quorum_all=True) for doc, factory in retry))
            if any(problems):
                raise Failure("DELETE_AFTER fallback: %s" % next(p for p in problems if p))
            problems = await asyncio.gather(*(send("POST", random.choice(destinations) + factory, doc,
                                                   "xn-from-migration;xn-force-index-update") for doc, factory in retry))
            if any(problems):
                raise Failure("DELETE_AFTER fallback: %s" % next(p for p in problems if p))
            task.count("processedServiceCount", len(pairs))
            return
        task.count("processedServiceCount", len(pairs))
        gone = [pair for pair, is_deleted in zip(pairs, deleted) if is_deleted]
        if not gone:
            return
        problems = await asyncio.gather(*(send("DELETE", target(doc, factory), quorum_all=True) for doc, factory in gone))
        failed = [pair for pair, problem in zip(gone, problems) if problem]
        if not failed:
            task.count("deletedDocumentCount", len(gone))
            return
        task.count("deleteRetryCount", len(failed))  # one retry, then the task fails
        problems = await asyncio.gather(*(send("DELETE", target(doc, factory), quorum_all=True) for doc, factory in failed))
        if any(problems):
            raise Failure(next(p for p in problems if p))
        task.count("deletedDocumentCount", len(failed))

    async def migrate_all_versions(self, task, pairs, destinations, send):
        """MigrationTaskService.java, migrateEntitiesForAllVersions: versions grouped by selfLink and
        replayed in version order, all selfLinks at once; processedServiceCount grows by the number of
        versions once every replay succeeded (with DELETE_AFTER, after one retry of the failed ones)."""
        for doc, unused in pairs:
            if doc.get("documentUpdateAction") not in ("POST", "PUT", "PATCH", "DELETE"):
                raise Failure("action=%s is not supported for ALL_VERSIONS migration. selfLink=%s, version=%s" % (
                    doc.get("documentUpdateAction"), doc["documentSelfLink"], doc.get("documentVersion")))
        by_link = {}
        for doc, factory in pairs:
            by_link.setdefault(doc["documentSelfLink"], (factory, []))[1].append(doc)
        groups = [(factory, sorted(versions, key=lambda d: d.get("documentVersion", 0))) for factory, versions in by_link.values()]
        problems = await asyncio.gather(*(self.replay(task, versions, factory, destinations, send) for factory, versions in groups))
        failed = [group for group, problem in zip(groups, problems) if problem]
        if failed:
            if "DELETE_AFTER" not in task.state["migrationOptions"]:
                raise Failure(next(p for p in problems if p))
            problems = await asyncio.gather(*(self.replay(task, versions, factory, destinations, send, retry=True)
                                              for factory, versions in failed))
            if any(problems):
                raise Failure(next(p for p in problems if p))
        task.count("processedServiceCount", len(pairs))
