"""One ZooKeeper ensemble for the whole Kilda integration session (its JVMs are the slow part);
every test gets its own Kilda chroot on it, so tests cannot see each other's nodes."""
import itertools
import os
import sys

import pytest
from kazoo.exceptions import NoNodeError

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from estate import Estate  # noqa: E402
from kildatest import Lab, zk_client  # noqa: E402

_counter = itertools.count()


@pytest.fixture(scope="session")
def ensemble():
    lab = Lab("zookeeper", "--servers", "3")
    yield lab
    lab.down()


@pytest.fixture
def healthy(ensemble):
    """The ensemble with every server running again after the test (faults included)."""
    yield ensemble
    for server in ensemble.status()["servers"]:
        if not server["alive"]:
            ensemble.fault("start", server["name"])


@pytest.fixture
def prefix(request):
    return "/kilda_%d_%s" % (next(_counter), request.node.name.replace("[", "_").replace("]", "")[:40])


@pytest.fixture
def kilda_labs(ensemble):
    """kilda_labs(prefix, "--env", "blue", ...) starts simulators on the shared ensemble (``zk``: the
    connect string they use, by default every server)."""
    started = []

    def start(prefix, *args, zk=None):
        lab = Lab("kilda", "--zk", zk or ensemble.description["hosts"], "--prefix", prefix, *args)
        started.append(lab)
        return lab

    yield start
    for lab in reversed(started):
        try:
            lab.down()
        except Exception as exc:
            sys.stderr.write("kilda lab teardown failed: %s\n" % exc)


@pytest.fixture
def blue(kilda_labs, prefix):
    """Blue as Kilda's local set-up has it: bootstrapped nodes, all 15 topologies, Floodlight 1
    and 2, northbound, grpc and the run-id apps, everything STARTed."""
    return kilda_labs(prefix, "--env", "blue", "--regions", "1,2", "--bootstrap", "--run-id-apps")


@pytest.fixture
def zk(ensemble):
    client = zk_client(ensemble.description["hosts"])
    yield client
    client.stop()
    client.close()


@pytest.fixture
def estate_factory(ensemble):
    """estate_factory(prefix): a whole Kilda installation (blue) laid out as the lab hooks expect."""
    made = []

    def make(prefix):
        estate = Estate(ensemble.description["hosts"], prefix)
        made.append(estate)
        return estate

    yield make
    for estate in made:
        estate.down()


@pytest.fixture
def default_chroot(ensemble):
    """Kilda's default chroot /kilda, empty, for a test that must use it as the seed and the docs do.
    Two such tests may run one after the other on a worker's ensemble: each starts from an empty
    chroot and leaves one (request it before estate_factory, so its clean-up runs after the
    estate's processes stopped)."""
    def wipe():
        client = zk_client(ensemble.description["hosts"])
        try:
            client.delete("/kilda", recursive=True)
        except NoNodeError:
            pass
        finally:
            client.stop()
            client.close()

    wipe()
    yield "/kilda"
    wipe()
