"""One Xenon node of a node group, serving the REST API described in the reference.

Documents are owner-selected: the owner of a selfLink is picked by rendezvous hashing over the
nodes this node currently sees as available; writes are forwarded to the owner, which stamps
version and update time and replicates the document to every other available node (so every node
has a local index, as in Xenon). The index is persisted in a SQLite sandbox, so a restarted node
keeps its documents and then catches up from a peer before it reports itself available.

Run: python -m xenon_lab.node --name blue-1 --port P --peers blue-1=127.0.0.1:P,... --sandbox F [--host ADDRESS]
"""
import argparse
import asyncio
import base64
import hashlib
import json
import sqlite3
import time
import uuid

import aiohttp
from aiohttp import web

from xenon_lab import auth, query, transform
from xenon_lab.common import (ALREADY_STARTED, MARKED_DELETED, NOT_FOUND, dumps, error_body, kind_of,
                              now_micros, user_fields)

FORWARDED = "x-lab-forwarded"
# How long a peer that answers no health check (but does not refuse them) stays suspected before
# it counts as unavailable; a killed peer refuses connections and is dropped on the next check.
# Generous enough that a node merely slowed down by a loaded machine keeps its place.
SUSPICION_S = 5.0
PROBE_TIMEOUT_S = 1.0
PASS_HEADERS = ("content-type", "pragma", "x-xenon-auth-token", "x-xenon-rpl-quorum", "cookie")
QUERY_DEFAULT_EXPIRATION = 600 * 1000000


def json_response(status, body, headers=None):
    return web.Response(status=status, text=dumps(body) if body is not None else "", headers=headers,
                        content_type="application/json")


def fail(status, message, code=0):
    return json_response(status, error_body(status, message, code))


class Node:
    def __init__(self, args):
        self.id = args.name
        self.group = args.group
        self.port = args.port
        self.host = args.host
        self.base = "http://%s:%d" % (args.host, args.port)
        self.peers = {}
        for item in args.peers.split(","):
            name, address = item.split("=", 1)
            self.peers[name] = "http://" + address
        self.available = {self.id}
        self.membership_time = now_micros()
        self.quorum = args.quorum or (len(self.peers) // 2 + 1)
        self.factories = {f: {"idempotent": args.idempotent_post} for f in args.factories.split(",") if f}
        self.docs = {}
        self.pages = {}
        self.query_tasks = {}
        self.synced = False
        self.auth = auth.Auth(args.auth_user, args.auth_password, args.auth_secret) if args.auth_user else None
        self.db = sqlite3.connect(args.sandbox, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=OFF")
        self.db.execute("CREATE TABLE IF NOT EXISTS docs (link TEXT PRIMARY KEY, body TEXT)")
        self.db.execute("CREATE TABLE IF NOT EXISTS versions (link TEXT, version INTEGER, body TEXT, PRIMARY KEY (link, version))")
        for link, body in self.db.execute("SELECT link, body FROM docs"):
            self.docs[link] = json.loads(body)
        self.history = {}  # selfLink -> {version: document}: the index keeps every version (INCLUDE_ALL_VERSIONS)
        for link, version, body in self.db.execute("SELECT link, version, body FROM versions"):
            self.history.setdefault(link, {})[version] = json.loads(body)
        self.session = None
        self.migration = None
        if args.migration_factory != "off":
            from xenon_lab.migration import MigrationService

            self.migration = MigrationService(self, idempotent=args.migration_factory == "idempotent")

    # ---- cluster plumbing ------------------------------------------------------------------

    def internal_headers(self):
        return {"x-xenon-auth-token": self.auth.system_token()} if self.auth else {}

    async def call(self, method, url, body=None, headers=None, timeout=30.0):
        """(status, decoded JSON or None) of one request to another node; raises on transport errors."""
        all_headers = dict(headers or {})
        data = None
        if body is not None:
            data = dumps(body) if not isinstance(body, (bytes, str)) else body
            all_headers.setdefault("content-type", "application/json")
        async with self.session.request(method, url, data=data, headers=all_headers,
                                        timeout=aiohttp.ClientTimeout(total=timeout)) as resp:
            text = await resp.text()
            try:
                return resp.status, json.loads(text) if text else None
            except ValueError:
                return resp.status, text

    def owner(self, link):
        return max(sorted(self.available), key=lambda node: hashlib.sha1((node + link).encode()).digest())

    def view(self):
        return {"id": self.id, "available": sorted(self.available), "membershipUpdateTimeMicros": self.membership_time}

    async def membership_loop(self):
        """Health-check peers; agree on one membershipUpdateTimeMicros for one member set."""
        suspected = {}
        while True:
            seen = {self.id}
            views = []

            async def probe(name, url):
                try:
                    status, data = await self.call("GET", url + "/lab/internal/view", headers=self.internal_headers(),
                                                   timeout=PROBE_TIMEOUT_S)
                except asyncio.TimeoutError:
                    # Xenon's node group detects failures SWIM-style: a peer that is merely slow
                    # to answer is suspected first and declared unavailable only when it stays
                    # silent. A dead peer (connection refused) is dropped at once, below.
                    first = suspected.setdefault(name, time.monotonic())
                    if name in self.available and time.monotonic() - first < SUSPICION_S:
                        seen.add(name)
                    return
                except aiohttp.ClientError:
                    return
                suspected.pop(name, None)
                if status == 200:
                    seen.add(name)
                    views.append(data)

            await asyncio.gather(*(probe(n, u) for n, u in self.peers.items() if n != self.id))
            if not self.synced:
                await self.sync_from_peer(seen)
            else:
                # After a change of the group, Xenon synchronizes every replicated service, keeping
                # the highest version of each on every node
                # (services/common/NodeSelectorSynchronizationService.java). Here a node pulls the
                # copy of a peer that is back (healed partition, restart), and of every peer when
                # the group changed while it could not see it (it was frozen: the others' view is
                # newer than its own); store() keeps the newer version. Epochs are not modelled.
                missed = any(set(other["available"]) == seen and other["membershipUpdateTimeMicros"] > self.membership_time
                             for other in views)
                for name in sorted((seen - {self.id}) if missed else (seen - self.available)):
                    await self.catch_up(name)
            if seen != self.available:
                self.available = seen
                self.membership_time = now_micros()
            for other in views:
                if set(other["available"]) == seen and other["membershipUpdateTimeMicros"] > self.membership_time:
                    self.membership_time = other["membershipUpdateTimeMicros"]
            await asyncio.sleep(0.2)

    async def expiration_loop(self):
        """Owners stop expired documents: they are marked deleted (documentExpirationTimeMicros)."""
        while True:
            now = now_micros()
            for link, doc in list(self.docs.items()):
                expires = doc.get("documentExpirationTimeMicros") or 0
                if expires and expires < now and doc.get("documentUpdateAction") != "DELETE" and self.owner(link) == self.id:
                    doc = dict(doc, documentUpdateAction="DELETE", documentVersion=doc["documentVersion"] + 1,
                               documentUpdateTimeMicros=now_micros())
                    self.store(doc)
                    await self.replicate(doc)
            await asyncio.sleep(1.0)

    async def sync_from_peer(self, seen):
        """A (re)started node catches up on writes it missed before it serves as an owner."""
        for name in sorted(seen - {self.id}):
            if await self.catch_up(name):
                break
        self.synced = True

    async def catch_up(self, name):
        """Take peer ``name``'s documents, versions and tasks where they are newer; False if it does not answer."""
        status, data = await self.peer_get(name, "/lab/internal/dump")
        if status != 200:
            return False
        for doc in data["documents"]:
            self.store(doc)
        for doc in data.get("versions") or []:
            self.keep_version(doc)
        if self.migration is not None:
            await self.sync_tasks(name)
        return True

    async def peer_get(self, name, path):
        """(status, body) of an internal GET to peer ``name``; (None, None) when it does not answer."""
        try:
            return await self.call("GET", self.peers[name] + path, headers=self.internal_headers(), timeout=30)
        except (aiohttp.ClientError, asyncio.TimeoutError):
            return None, None

    async def sync_tasks(self, name):
        """Migration tasks are replicated but not persisted: a restarted node takes them from a peer."""
        status, data = await self.peer_get(name, "/lab/internal/tasks")
        if status == 200:
            for state in data["documents"]:
                self.migration.store_replica(state, data["tokens"].get(state["documentSelfLink"]))

    def store(self, doc):
        """Keep doc if it is newer than the local copy (replicas may arrive out of order)."""
        link = doc["documentSelfLink"]
        current = self.docs.get(link)
        if current is not None and (current["documentVersion"], current["documentUpdateTimeMicros"]) > (
                doc["documentVersion"], doc["documentUpdateTimeMicros"]) and not doc.get("_force"):
            self.keep_version({k: v for k, v in doc.items() if not k.startswith("_")})  # history still gets it
            return
        doc.pop("_force", None)
        if doc.pop("_purge", False):
            # a POST with xn-force-index-update first deletes every earlier version of the selfLink
            # from the index (LuceneDocumentIndexService.java, deleteAllDocumentsForSelfLinkForcedPost)
            self.history.pop(link, None)
            self.db.execute("DELETE FROM versions WHERE link = ?", (link,))
        self.docs[link] = doc
        self.db.execute("INSERT OR REPLACE INTO docs (link, body) VALUES (?, ?)", (link, dumps(doc)))
        self.keep_version(doc)

    def keep_version(self, doc):
        link, version = doc["documentSelfLink"], doc["documentVersion"]
        self.history.setdefault(link, {})[version] = doc
        self.db.execute("INSERT OR REPLACE INTO versions (link, version, body) VALUES (?, ?, ?)", (link, version, dumps(doc)))

    def all_versions(self):
        return [doc for versions in self.history.values() for doc in versions.values()]

    async def replicate(self, doc, force=False):
        payload = dict(doc, _force=True) if force else doc

        async def push(url):
            try:
                await self.call("POST", url + "/lab/internal/replicate", payload, headers=self.internal_headers(), timeout=5)
            except (aiohttp.ClientError, asyncio.TimeoutError):
                pass  # the membership loop will drop the peer; it re-syncs when it comes back

        await asyncio.gather(*(push(self.peers[n]) for n in self.available if n != self.id))

    async def forward(self, request, owner, raw):
        headers = {k: v for k, v in request.headers.items() if k.lower() in PASS_HEADERS}
        headers[FORWARDED] = "1"
        url = self.peers[owner] + request.path_qs
        last = None
        for _attempt in range(3):
            try:
                async with self.session.request(request.method, url, data=raw or None, headers=headers,
                                                timeout=aiohttp.ClientTimeout(total=60)) as resp:
                    body = await resp.read()
                    return web.Response(status=resp.status, body=body, content_type="application/json")
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                last = exc
                await asyncio.sleep(0.3)
                owner = self.owner(request.path)
                if owner == self.id:
                    return None
                url = self.peers[owner] + request.path_qs
        return fail(503, "owner node %s of %s is unreachable: %s" % (owner, request.path, last))

    # ---- HTTP entry point -----------------------------------------------------------------

    async def handle(self, request):
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            return fail(400, "body is not a structured document")
        path = request.path.rstrip("/") or "/"
        if path == "/core/authn/basic":
            return self.login(request, body)
        if self.auth and not self.auth.verify(request):
            if not (request.headers.get("x-xenon-auth-token") or request.cookies.get(auth.COOKIE)):
                return json_response(401, error_body(401, "authentication required"),
                                     headers={"www-authenticate": 'Basic realm="xenon"'})
            return fail(403, "forbidden: invalid or expired auth token")
        if path.startswith("/lab/internal/"):
            return await self.internal(path, body)
        if path.startswith("/lab/transforms/"):
            status, out = transform.handle(path.rsplit("/", 1)[1], body)
            return json_response(status, out) if out is not None else fail(404, "Service not found: %s" % path, NOT_FOUND)
        if path == "/core/management":
            return json_response(200, {"id": self.id, "httpPort": self.port, "publicUri": self.base,
                                       "bindAddress": self.host, "isAuthorizationEnabled": bool(self.auth),
                                       "maintenanceIntervalMicros": 1000000, "operationTimeoutMicros": 60000000,
                                       "codeProperties": {"git.commit.id": "xenon-lab-%s" % self.group}})
        if path.startswith("/core/node-groups/default"):
            return self.node_group(request, path, body)
        if path == "/core/node-selectors/default":
            return json_response(200, {"status": self.selector_status(), "membershipQuorum": self.quorum,
                                       "membershipUpdateTimeMicros": self.membership_time,
                                       "documentSelfLink": path})
        if path in ("/core/query-tasks", "/core/local-query-tasks") or path.startswith(("/core/query-tasks/", "/core/query-page/")):
            return await self.queries(request, path, body)
        if path.startswith("/management/migration-tasks"):
            if self.migration is None:
                return fail(404, "Service not found: %s" % path, NOT_FOUND)
            return await self.migration.handle(request, path, body, raw)
        return await self.documents(request, path, body, raw)

    def login(self, request, body):
        if not self.auth:
            return fail(404, "Service not found: /core/authn/basic", NOT_FOUND)
        header = request.headers.get("Authorization")
        if not header:
            return json_response(401, error_body(401, "authentication required"),
                                 headers={"www-authenticate": 'Basic realm="xenon"'})
        if not header.startswith("Basic "):
            return fail(400, "malformed Authorization header")
        try:
            user, unused, password = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return fail(400, "malformed Authorization header")
        if (body or {}).get("requestType", "LOGIN") == "LOGOUT":
            return json_response(200, None)
        if not self.auth.check_password(user, password):
            return fail(403, "forbidden: bad credentials")
        token = self.auth.issue(user, int((body or {}).get("sessionExpirationSeconds") or 3600))
        return json_response(200, None, headers={auth.HEADER: token,
                                                 "set-cookie": "%s=%s; Path=/; HttpOnly" % (auth.COOKIE, token)})

    def selector_status(self):
        return "AVAILABLE" if self.synced and len(self.available) >= self.quorum else "UNAVAILABLE"

    def node_group(self, request, path, body):
        if path.endswith("/available"):
            ok = self.selector_status() == "AVAILABLE"
            return json_response(200 if ok else 503, None if ok else error_body(503, "node group not available"))
        if request.method == "PATCH":
            if not body or "membershipQuorum" not in body:
                return fail(400, "UpdateQuorumRequest with membershipQuorum required")
            self.quorum = int(body["membershipQuorum"])
            if body.get("isGroupUpdate"):
                for name in self.available - {self.id}:
                    asyncio.ensure_future(self.call("PATCH", self.peers[name] + path,
                                                    dict(body, isGroupUpdate=False), headers=self.internal_headers()))
            return json_response(200, None)
        nodes = {}
        for name, url in self.peers.items():
            nodes[name] = {"id": name, "groupReference": url + "/core/node-groups/default",
                           "status": "AVAILABLE" if name in self.available else "UNAVAILABLE",
                           "options": ["PEER"], "membershipQuorum": self.quorum, "locationQuorum": 1}
        return json_response(200, {"config": {"stableGroupMaintenanceIntervalCount": 5},
                                   "nodes": nodes, "membershipUpdateTimeMicros": self.membership_time,
                                   "localMembershipUpdateTimeMicros": self.membership_time,
                                   "documentSelfLink": "/core/node-groups/default"})

    async def internal(self, path, body):
        if path == "/lab/internal/view":
            return json_response(200 if self.synced else 503, self.view())
        if path == "/lab/internal/replicate":
            self.store(body)
            return json_response(200, None)
        if path == "/lab/internal/dump":
            return json_response(200, {"documents": list(self.docs.values()), "versions": self.all_versions()})
        if path == "/lab/internal/local-query":
            return json_response(200, {"documents": self.local_select(body["querySpec"], owned=True)})
        if path == "/lab/internal/tasks" and self.migration is not None:
            return json_response(200, self.migration.replicas())
        if path == "/lab/internal/task-replica" and self.migration is not None:
            self.migration.store_replica(body["state"], body.get("token"), bool(body.get("dropped")))
            return json_response(200, None)
        return fail(404, "Service not found: %s" % path, NOT_FOUND)

    # ---- queries --------------------------------------------------------------------------

    def local_select(self, spec, owned):
        if "INCLUDE_ALL_VERSIONS" in (spec.get("options") or []):
            docs = query.select(self.all_versions(), spec)
        else:
            docs = query.select(self.docs.values(), spec)
        if owned:
            docs = [d for d in docs if self.owner(d["documentSelfLink"]) == self.id]
        return docs

    async def gather_broadcast(self, spec):
        results = []

        async def ask(name):
            if name == self.id:
                results.extend(self.local_select(spec, owned=True))
                return
            status, data = await self.call("POST", self.peers[name] + "/lab/internal/local-query",
                                           {"querySpec": spec}, headers=self.internal_headers(), timeout=60)
            if status != 200:
                raise RuntimeError("broadcast query to %s failed with %s" % (name, status))
            results.extend(data["documents"])

        await asyncio.gather(*(ask(n) for n in sorted(self.available)))
        results.sort(key=lambda d: d["documentSelfLink"])
        return results

    def gc_pages(self):
        now = now_micros()
        for key in [k for k, v in self.pages.items() if v["expires"] < now]:
            del self.pages[key]

    async def queries(self, request, path, body):
        self.gc_pages()
        if path.startswith("/core/query-page/"):
            page = self.pages.get(path.rsplit("/", 1)[1])
            if page is None:
                return fail(404, "Service not found: %s" % path, NOT_FOUND)
            for name in page["contributors"]:
                # broadcast pages are read from every node lazily in Xenon: a dead peer fails the page
                try:
                    status, unused = await self.call("GET", self.peers[name] + "/lab/internal/view",
                                                     headers=self.internal_headers(), timeout=1.0)
                except (aiohttp.ClientError, asyncio.TimeoutError):
                    status = None
                if status != 200:
                    return fail(500, "broadcast query page %s: node %s did not answer" % (path, name))
            return json_response(200, page["task"])
        if path.startswith("/core/query-tasks/"):
            task = self.query_tasks.get(path)
            return json_response(200, task) if task else fail(404, "Service not found: %s" % path, NOT_FOUND)
        if request.method != "POST" or not isinstance(body, dict) or "querySpec" not in body:
            return fail(400, "a QueryTask with querySpec is required")
        spec = body["querySpec"]
        options = set(spec.get("options") or [])
        if "COUNT" in options and "EXPAND_CONTENT" in options:
            return fail(400, "COUNT is incompatible with EXPAND_CONTENT")
        try:
            if "BROADCAST" in options:
                docs = await self.gather_broadcast(spec)
            else:
                docs = self.local_select(spec, owned="OWNER_SELECTION" in options)
        except (aiohttp.ClientError, asyncio.TimeoutError, RuntimeError) as exc:
            return fail(500, "query failed: %s" % (exc or type(exc).__name__))
        expires = body.get("documentExpirationTimeMicros") or (now_micros() + QUERY_DEFAULT_EXPIRATION)
        task = dict(body, taskInfo={"stage": "FINISHED", "isDirect": bool((body.get("taskInfo") or {}).get("isDirect"))},
                    documentExpirationTimeMicros=expires, documentSelfLink="/core/query-tasks/%s" % uuid.uuid4())
        expand = "EXPAND_CONTENT" in options
        contributors = sorted(self.available - {self.id}) if "BROADCAST" in options else []
        limit = spec.get("resultLimit")
        if "COUNT" in options:
            task["results"] = {"documentLinks": [], "documentCount": len(docs), "queryTimeMicros": 1}
        elif limit:
            task["results"] = {"documentLinks": [], "documentCount": 0, "queryTimeMicros": 1}
            ids = [uuid.uuid4().hex for _offset in range(0, len(docs), int(limit))]
            if ids:
                task["results"]["nextPageLink"] = "/core/query-page/%s" % ids[0]
            for index, page_id in enumerate(ids):
                chunk = docs[index * int(limit):(index + 1) * int(limit)]
                results = {"documentLinks": [query.result_link(d, options) for d in chunk], "documentCount": len(chunk),
                           "queryTimeMicros": 1}
                if expand:
                    results["documents"] = {query.result_link(d, options): d for d in chunk}
                if index + 1 < len(ids):
                    results["nextPageLink"] = "/core/query-page/%s" % ids[index + 1]
                if index:
                    results["prevPageLink"] = "/core/query-page/%s" % ids[index - 1]
                page_task = {"taskInfo": {"stage": "FINISHED"}, "querySpec": spec, "results": results,
                             "documentSelfLink": "/core/query-page/%s" % page_id}
                self.pages[page_id] = {"expires": expires, "task": page_task, "contributors": contributors}
        else:
            task["results"] = {"documentLinks": [query.result_link(d, options) for d in docs], "documentCount": len(docs),
                               "queryTimeMicros": 1}
            if expand:
                task["results"]["documents"] = {query.result_link(d, options): d for d in docs}
        if task["taskInfo"]["isDirect"]:
            return json_response(200, task)
        self.query_tasks[task["documentSelfLink"]] = task
        return json_response(202, task)

    # ---- factories and documents ----------------------------------------------------------

    def factory_of(self, path):
        for factory in self.factories:
            if path == factory or path.startswith(factory + "/"):
                return factory
        return None

    async def documents(self, request, path, body, raw):
        factory = self.factory_of(path)
        if factory is None:
            return fail(404, "Service not found: %s" % path, NOT_FOUND)
        rest = path[len(factory):]
        if rest == "/config":
            options = ["FACTORY", "REPLICATION"] + (["IDEMPOTENT_POST"] if self.factories[factory]["idempotent"] else [])
            return json_response(200, {"peerNodeSelectorPath": "/core/node-selectors/default", "options": options,
                                       "childOptions": ["PERSISTENCE", "REPLICATION", "OWNER_SELECTION"],
                                       "documentSelfLink": path})
        if rest.endswith("/template"):
            # ServiceDocumentDescription.java: versionRetentionLimit defaults to 1000 (the lab keeps every version)
            return json_response(200, {"documentKind": kind_of(factory), "documentSelfLink": path,
                                       "documentDescription": {"versionRetentionLimit": 1000, "versionRetentionFloor": 500}})
        if rest == "/stats":
            return json_response(200, {"entries": {"isAvailable": {"name": "isAvailable",
                                                                   "latestValue": 1.0 if self.synced else 0.0}},
                                       "documentSelfLink": path})
        if rest == "/available":
            return json_response(200 if self.synced else 503, None)
        if rest == "" and request.method == "GET":
            docs = query.select(self.docs.values(), {"query": {"term": {
                "propertyName": "documentSelfLink", "matchValue": factory + "/", "matchType": "PREFIX"}}})
            result = {"documentLinks": [d["documentSelfLink"] for d in docs], "documentCount": len(docs),
                      "documentOwner": self.id, "documentVersion": 0, "documentUpdateTimeMicros": 0,
                      "documentExpirationTimeMicros": 0, "queryTimeMicros": 1}
            if "expand" in request.query or "$expand" in request.query:
                result["documents"] = {d["documentSelfLink"]: d for d in docs}
            return json_response(200, result)
        if rest == "":
            if request.method != "POST":
                return fail(405, "%s not supported on factory %s" % (request.method, factory))
            if not isinstance(body, dict):
                return fail(400, "body is not a structured document")
            link = self.child_link(factory, body.get("documentSelfLink"))
        else:
            link = path
        owner = self.owner(link)
        if owner != self.id and not request.headers.get(FORWARDED):
            if rest == "":
                raw = dumps(dict(body, documentSelfLink=link))  # the owner must create the link we hashed
            response = await self.forward(request, owner, raw)
            if response is not None:
                return response
        return await self.write(request, factory, link, body)

    @staticmethod
    def child_link(factory, requested):
        if not requested:
            return "%s/%s" % (factory, uuid.uuid4())
        if requested.startswith(factory + "/"):
            return requested
        return "%s/%s" % (factory, requested.strip("/"))

    async def write(self, request, factory, link, body):
        method = request.method
        pragmas = {p.strip() for p in request.headers.get("pragma", "").split(";") if p.strip()}
        current = self.docs.get(link)
        live = current is not None and current.get("documentUpdateAction") != "DELETE"
        now = now_micros()
        if method == "GET":
            return json_response(200, current) if live else fail(404, "Service not found: %s" % link, NOT_FOUND)
        if method == "POST" and request.path.rstrip("/") == factory:
            from_migration = "xn-from-migration" in pragmas
            force = "xn-force-index-update" in pragmas
            if live and not force:
                if not self.factories[factory]["idempotent"]:
                    return fail(409, "Service already started: %s stage: AVAILABLE" % link, ALREADY_STARTED)
                method = "PUT"  # IDEMPOTENT_POST: the POST becomes a PUT on the existing service
            elif current is not None and not live and not force and int(body.get("documentVersion") or 0) <= current["documentVersion"]:
                return fail(409, "Service marked deleted: %s" % link, MARKED_DELETED)
            else:
                doc = user_fields(body)
                doc.update(documentSelfLink=link, documentKind=kind_of(factory), documentOwner=self.id,
                           documentEpoch=0, documentUpdateAction="POST",
                           documentExpirationTimeMicros=int(body.get("documentExpirationTimeMicros") or 0),
                           documentVersion=int(body.get("documentVersion") or 0) if from_migration else 0,
                           documentUpdateTimeMicros=int(body.get("documentUpdateTimeMicros") or now) if from_migration else now)
                if current is not None and not force:
                    doc["documentVersion"] = max(doc["documentVersion"], current["documentVersion"] + 1)
                self.store(dict(doc, _force=True, _purge=force))
                await self.replicate(dict(doc, _purge=force), force=True)
                return json_response(200, doc)
        if not live:
            if method == "DELETE":
                return json_response(200, None)
            return fail(404, "Service not found: %s" % link, NOT_FOUND)
        if method == "PUT":
            doc = user_fields(body or {})
        elif method == "PATCH":
            doc = dict(user_fields(current))
            doc.update({k: v for k, v in user_fields(body or {}).items() if v is not None})
        elif method == "DELETE":
            doc = user_fields(current)
        else:
            return fail(405, "%s not supported on %s" % (method, link))
        doc.update(documentSelfLink=link, documentKind=current["documentKind"], documentOwner=self.id,
                   documentEpoch=0, documentUpdateAction=method, documentVersion=current["documentVersion"] + 1,
                   documentUpdateTimeMicros=now,
                   documentExpirationTimeMicros=current.get("documentExpirationTimeMicros", 0))
        self.store(doc)
        await self.replicate(doc)
        return json_response(200, doc)


@web.middleware
async def tag_node(request, handler):
    response = await handler(request)
    node = request.app["node"]
    response.headers["x-lab-node"] = node.id
    response.headers["x-lab-group"] = node.group
    return response


async def run(args):
    node = Node(args)
    node.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=200))
    app = web.Application(client_max_size=64 * 1024 * 1024, middlewares=[tag_node])
    app["node"] = node
    app.router.add_route("*", "/{tail:.*}", node.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, args.host, args.port, backlog=1024).start()
    tasks = [asyncio.ensure_future(node.membership_loop()), asyncio.ensure_future(node.expiration_loop())]
    if node.migration is not None:
        tasks.append(asyncio.ensure_future(node.migration.maintenance_loop()))
    await asyncio.gather(*tasks)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--name", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (the node's own on a lab network)")
    parser.add_argument("--peers", required=True, help="name=host:port,... of every node of the group")
    parser.add_argument("--sandbox", required=True, help="SQLite file holding this node's index")
    parser.add_argument("--factories", default="/core/examples")
    parser.add_argument("--idempotent-post", action="store_true")
    parser.add_argument("--quorum", type=int, default=0)
    parser.add_argument("--migration-factory", choices=("off", "plain", "idempotent"), default="off")
    parser.add_argument("--auth-user")
    parser.add_argument("--auth-password")
    parser.add_argument("--auth-secret", default="xenon-lab")
    args = parser.parse_args(argv)
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
