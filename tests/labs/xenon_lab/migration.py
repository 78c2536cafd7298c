"""MigrationTaskService (/management/migration-tasks) as the reference describes it for 1.6.3+.

Stages as in the code, not the wiki: a first pass stays CREATED until FINISHED/FAILED; only a
continuous restart (or a client PATCH) sets STARTED. Counters live under /stats only; failures in
taskInfo.failure with statusCode 400. Re-posting existing documents gives 409 unless the
destination factory is IDEMPOTENT_POST or DELETE_AFTER is set. A latestSourceUpdateTimeMicros
sent in the POST does not filter the first pass.
"""
import asyncio
import json
import random
from urllib.parse import urlsplit

import aiohttp

from xenon_lab.common import ALREADY_STARTED, NOT_FOUND, dumps, error_body, kind_of, now_micros

FACTORY = "/management/migration-tasks"
TERMINAL = ("FINISHED", "FAILED", "CANCELLED")
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
        return [t.state for t in self.tasks.values()]

    # ---- REST ------------------------------------------------------------------------------

    async def handle(self, request, path, body, raw):
        from xenon_lab.node import FORWARDED, fail, json_response

        node = self.node
        if path == FACTORY:
            if request.method == "GET":
                docs = []
                for name in sorted(node.available):
                    if name == node.id:
                        docs.extend(self.local_tasks())
                        continue
                    try:
                        status, data = await node.call("GET", node.peers[name] + "/lab/internal/tasks",
                                                       headers=node.internal_headers(), timeout=5)
                    except (aiohttp.ClientError, asyncio.TimeoutError):
                        continue
                    if status == 200:
                        docs.extend(data["documents"])
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
        if state["taskInfo"]["stage"] not in ("FINISHED", "CANCELLED"):
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
        if state["taskInfo"].get("stage") not in TERMINAL:
            self.start(task)  # as in Xenon, any PATCH that leaves the task running starts a pass

    def drop(self, link):
        task = self.tasks.pop(link, None)
        if task is not None and task.runner is not None:
            task.runner.cancel()

    def start(self, task):
        task.runner = asyncio.ensure_future(self.run_pass(task))

    async def maintenance_loop(self):
        while True:
            now = now_micros()
            for link, task in list(self.tasks.items()):
                state = task.state
                if state["documentExpirationTimeMicros"] and state["documentExpirationTimeMicros"] < now:
                    self.drop(link)
                    continue
                stage = state["taskInfo"].get("stage")
                if not state["continuousMigration"] or stage not in TERMINAL:
                    continue
                if now - task.finished_at < state["maintenanceIntervalMicros"]:
                    continue
                if stage == "FINISHED" and state["latestSourceUpdateTimeMicros"]:
                    self.set_restart_clause(state)
                state["taskInfo"] = {"stage": "STARTED"}
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
        return await self.node.call("GET", url, headers=self.headers(task), timeout=10)

    async def resolve(self, task, side):
        state = task.state
        reference = state.get("%sNodeGroupReference" % side)
        if not reference:
            return [_base(u) for u in state["%sReferences" % side]]
        try:
            status, group = await self.get(task, reference)
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise Failure("Failed to get %s node group %s: %s" % (side, reference, exc or type(exc).__name__))
        if status != 200:
            raise Failure("Failed to get %s node group %s: HTTP %s" % (side, reference, status))
        return [_base(n["groupReference"]) for n in group["nodes"].values()
                if n.get("status") not in ("UNAVAILABLE", "REPLACED") and "OBSERVER" not in (n.get("options") or [])]

    async def retry(self, task, check, message):
        checks = max(1, int(task.state["maximumConvergenceChecks"]))
        for _attempt in range(checks):
            try:
                if await check():
                    return
            except (aiohttp.ClientError, asyncio.TimeoutError):
                pass
            await asyncio.sleep(task.state["maintenanceIntervalMicros"] / 1e6)
        raise Failure(message % checks)

    async def converged(self, task, nodes):
        times = set()
        for base in nodes:
            status, group = await self.get(task, base + "/core/node-groups/default")
            if status != 200:
                return False
            times.add(group["membershipUpdateTimeMicros"])
        return len(times) == 1

    async def run_pass(self, task):
        state = task.state
        try:
            sources = await self.resolve(task, "source")
            destinations = await self.resolve(task, "destination")
            for side, nodes in (("source", sources), ("destination", destinations)):
                if state.get("%sNodeGroupReference" % side):
                    await self.retry(task, lambda n=nodes: self.converged(task, n),
                                     "Nodegroups did not converge after %d retries.")
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
            state["taskInfo"] = {"stage": "FINISHED", "isDirect": False}
        except Failure as exc:
            state["taskInfo"] = {"stage": "FAILED", "isDirect": False, "failure": error_body(400, str(exc))}
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            state["taskInfo"] = {"stage": "FAILED", "isDirect": False,
                                 "failure": error_body(400, "%s: %s" % (type(exc).__name__, exc))}
        task.finished_at = now_micros()
        state["documentUpdateTimeMicros"] = task.finished_at

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
            unused, counted = await self.node.call("POST", random.choice(sources) + "/core/query-tasks", body,
                                                   headers=self.headers(task), timeout=60)
            task.stats["estimatedTotalServiceCount"] = counted["results"]["documentCount"]
        else:
            task.stats["estimatedTotalServiceCount"] = -1
        host = random.choice(sources)
        status, first = await self.node.call(
            "POST", host + "/core/local-query-tasks",
            {"taskInfo": {"isDirect": True}, "querySpec": state["querySpec"],
             "nodeSelectorLink": selector or "/core/node-selectors/default",
             "documentExpirationTimeMicros": state["documentExpirationTimeMicros"]},
            headers=self.headers(task), timeout=120)
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
                await self.migrate_page(task, docs, destinations)
            link = page["results"].get("nextPageLink")
        if latest:
            state["latestSourceUpdateTimeMicros"] = max(state["latestSourceUpdateTimeMicros"], latest)

    async def transform(self, task, doc, destinations):
        state = task.state
        link = state["transformationServiceLink"]
        if "USE_TRANSFORM_REQUEST" in state["migrationOptions"]:
            request = {"originalDocument": json.dumps(doc), "destinationLink": state["destinationFactoryLink"]}
        else:
            request = {json.dumps(doc): state["destinationFactoryLink"]}
        node = random.choice(destinations)
        status, data = await self.node.call("POST", node + link, request, headers=self.headers(task), timeout=30)
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
        gate = asyncio.Semaphore(PAGE_CONCURRENCY)

        async def post(doc, factory):
            async with gate:
                await self.post_document(task, doc, factory, destinations)

        results = await asyncio.gather(*(post(d, f) for d, f in pairs), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result if isinstance(result, Failure) else Failure("%s: %s" % (type(result).__name__, result))

    async def post_document(self, task, doc, factory, destinations):
        call = self.node.call
        status, data = await call("POST", random.choice(destinations) + factory, doc,
                                  headers=self.headers(task, "xn-from-migration"), timeout=60)
        if status == 200:
            task.count("processedServiceCount")
            return
        message = data.get("message") if isinstance(data, dict) else data
        if "DELETE_AFTER" not in task.state["migrationOptions"]:
            raise Failure(message or "POST %s failed with %s" % (factory, status))
        link = factory.rstrip("/") + "/" + doc["documentSelfLink"].strip("/")
        headers = self.headers(task, "xn-from-migration")
        headers["x-xenon-rpl-quorum"] = "x-xenon-all"
        status, data = await call("DELETE", random.choice(destinations) + link, headers=headers, timeout=60)
        if status != 200:
            raise Failure("DELETE_AFTER fallback: DELETE %s failed: %s" % (link, (data or {}).get("message", status)))
        status, data = await call("POST", random.choice(destinations) + factory, doc,
                                  headers=self.headers(task, "xn-from-migration;xn-force-index-update"), timeout=60)
        if status != 200:
            raise Failure("DELETE_AFTER fallback: POST %s failed: %s" % (link, (data or {}).get("message", status)))
        task.count("processedServiceCount")
