"""A Kilda installation in the lab laid out the way the lab hooks expect: one lab per
deployable unit under one root (topologies-<colour>, services-<colour>, floodlight-<region>)."""
import os
import threading
import tempfile

import kildatest
from kildatest import ROOT, labctl

HOOK = os.path.join(ROOT, "playbooks", "hooks", "kilda_lab_hook.yml")


class Estate:
    def __init__(self, hosts, prefix, regions=("1", "2")):
        self.hosts, self.prefix = hosts, prefix
        self.root = tempfile.mkdtemp(prefix="zdt-kilda-estate-")
        common = ["--zk", hosts, "--prefix", prefix]
        # Kilda's ZooKeeper container bootstraps blue; then blue's processes start.
        self.up("topologies-blue", "--env", "blue", "--no-services", "--bootstrap", "--run-id-apps", *common)
        self.up("services-blue", "--env", "blue", "--no-topologies", *common)
        for region in regions:
            self.up("floodlight-%s" % region, "--env", "blue", "--no-topologies", "--no-services", "--regions", region,
                    "--bootstrap", *common)

    def up(self, unit, *args):
        return labctl("up", "kilda", *args, "--workdir", os.path.join(self.root, unit))

    def units(self):
        return sorted(d for d in os.listdir(self.root) if os.path.exists(os.path.join(self.root, d, "lab.json")))

    def status(self, unit):
        return labctl("status", "--workdir", os.path.join(self.root, unit))

    def hang_dir(self, unit):
        return os.path.join(self.root, unit, "hang")

    def extra_vars(self, **kw):
        hook = os.path.realpath(HOOK)
        out = dict(kilda_blue_green_hosts=self.hosts, kilda_blue_green_prefix=self.prefix, kilda_blue_green_poll_interval=0.2,
                   kilda_blue_green_wait_timeout=60, kilda_blue_green_to_regions=["1"], kilda_blue_green_from_regions=["2"],
                   kilda_lab_labctl=kildatest.LABCTL, kilda_lab_root=self.root,
                   kilda_blue_green_hook_deploy_topologies=hook, kilda_blue_green_hook_deploy_floodlight=hook,
                   kilda_blue_green_hook_deploy_northbound=hook, kilda_blue_green_hook_deploy_grpc=hook,
                   kilda_blue_green_hook_terminate_topologies=hook, kilda_blue_green_hook_functional_test=hook,
                   kilda_blue_green_journal_path=os.path.join(self.root, "journal.json"))
        out.update(kw)
        return out

    def down(self):
        units = [threading.Thread(target=labctl, args=("down", "--workdir", os.path.join(self.root, u)))
                 for u in self.units()]
        for unit in units:
            unit.start()
        for unit in units:
            unit.join(120)
