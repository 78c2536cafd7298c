"""An in-memory stand-in for the part of KazooClient the Kilda module_utils use, with
ZooKeeper's versioning and all-or-nothing multi semantics, so unit tests need no server."""
from kazoo.exceptions import BadVersionError, NodeExistsError, NoNodeError, RolledBackError
from kazoo.protocol.states import ZnodeStat
from kazoo.security import OPEN_ACL_UNSAFE


class _Result:
    def __init__(self, fn):
        try:
            self._value, self._error = fn(), None
        except Exception as exc:  # delivered on .get(), like kazoo's async results
            self._value, self._error = None, exc

    def get(self, timeout=None):
        if self._error:
            raise self._error
        return self._value


def _stat(version):
    return ZnodeStat(0, 0, 0, 0, version, 0, 0, 0, 0, 0, 0)


class FakeZk:
    def __init__(self, nodes=None):
        self.nodes = {}  # path -> [bytes, version]
        self.connected = True
        self.commits = 0
        self.before_commit = None  # hook(fake) run once before the next commit, to simulate races
        for path, value in (nodes or {}).items():
            self.put(path, value)

    def put(self, path, value):
        parts = path.strip("/").split("/")
        for i in range(1, len(parts)):
            self.nodes.setdefault("/" + "/".join(parts[:i]), [b"", 0])
        if path in self.nodes:
            self.nodes[path] = [value.encode(), self.nodes[path][1] + 1]
        else:
            self.nodes[path] = [value.encode(), 0]

    def retry(self, fn, *args, **kwargs):
        return fn(*args, **kwargs)

    def value(self, path):
        return self.nodes[path][0].decode() if path in self.nodes else None

    def _get(self, path):
        if path not in self.nodes:
            raise NoNodeError()
        data, version = self.nodes[path]
        return data, _stat(version)

    def get_async(self, path, watch=None):
        return _Result(lambda: self._get(path))

    def exists_async(self, path, watch=None):
        return _Result(lambda: _stat(self.nodes[path][1]) if path in self.nodes else None)

    def get_children(self, path):
        if path not in self.nodes:
            raise NoNodeError()
        depth = path.count("/") + 1
        return [p.rsplit("/", 1)[1] for p in self.nodes if p.startswith(path + "/") and p.count("/") == depth]

    def get_acls(self, path):
        if path not in self.nodes and path != "/":
            raise NoNodeError()
        return list(OPEN_ACL_UNSAFE), _stat(0)

    def transaction(self):
        return _Transaction(self)


class _Transaction:
    def __init__(self, fake):
        self.fake = fake
        self.ops = []

    def create(self, path, value, acl=None):
        self.ops.append(("create", path, value, None))

    def set_data(self, path, value, version=-1):
        self.ops.append(("set", path, value, version))

    def commit(self):
        fake = self.fake
        if fake.before_commit:
            hook, fake.before_commit = fake.before_commit, None
            hook(fake)
        fake.commits += 1
        staged = {k: list(v) for k, v in fake.nodes.items()}
        results = []
        failed = None
        for kind, path, value, version in self.ops:
            if failed is not None:
                results.append(RolledBackError())
                continue
            parent = path.rsplit("/", 1)[0]
            if kind == "create":
                if path in staged:
                    failed = NodeExistsError()
                elif parent and parent not in staged:
                    failed = NoNodeError()
                else:
                    staged[path] = [value, 0]
                    results.append(path)
                    continue
            else:
                if path not in staged:
                    failed = NoNodeError()
                elif version not in (-1, staged[path][1]):
                    failed = BadVersionError()
                else:
                    staged[path] = [value, staged[path][1] + 1]
                    results.append(_stat(staged[path][1]))
                    continue
            results = [RolledBackError() for dummy in results] + [failed]
        if failed is None:
            fake.nodes = staged
        return results
