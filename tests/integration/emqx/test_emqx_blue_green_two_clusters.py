"""Two EMQX clusters upgraded by one play keep apart: each has its own journal and reports (by
default in a directory named after the cluster), its own start time, events and outcome, and its
own entry in the job's artifacts - nothing of the first cluster's run leaks into the second's."""
import json
import os

import pytest

from emqxtest import cluster, emqx_bluegreen, node_names  # pylint: disable=import-error

from collection_files import SHOW_CUSTOM_STATS, custom_stats  # pylint: disable=import-error

pytestmark = pytest.mark.timeout(420)

HERE = os.path.dirname(os.path.abspath(__file__))
# what both clusters share; each cluster's endpoints and credentials go through the play's list
COMMON = {"emqx_blue_green_wait_health_check": 1, "emqx_blue_green_wait_takeover": 1, "emqx_blue_green_soak_seconds": 2,
          "emqx_blue_green_probe_interval": 1, "emqx_blue_green_poll_interval": 1}
PER_CLUSTER = {"api_key": "emqx_blue_green_api_key", "api_secret": "emqx_blue_green_api_secret",
               "haproxy_socket": "emqx_blue_green_haproxy_socket", "haproxy_backend": "emqx_blue_green_haproxy_backend",
               "mqtt_host": "emqx_blue_green_mqtt_host", "mqtt_port": "emqx_blue_green_mqtt_port",
               "green_version": "emqx_blue_green_green_version", "lab_workdir": "emqx_lab_workdir"}


def cluster_inputs(lab, prefix):
    """The lab's inventory groups and hosts renamed with ``prefix`` (host names are global in an
    inventory, and both labs name their nodes alike), and the play's entry for the cluster."""
    groups = {}
    for colour, group in emqx_bluegreen.inventory(lab.description)["all"]["children"].items():
        groups["%s_%s" % (prefix, colour.split("_")[1])] = {"hosts": {"%s-%s" % (prefix, host): hostvars for host, hostvars in group["hosts"].items()}}
    values = emqx_bluegreen.extra_vars(lab.description, "")
    entry = {key: values[var] for key, var in PER_CLUSTER.items()}
    entry.update(blue_group="%s_blue" % prefix, green_group="%s_green" % prefix)
    return groups, entry


def read(path):
    with open(path) as handle:
        return json.load(handle)


@pytest.mark.slow
@pytest.mark.long
def test_two_clusters_in_one_play_keep_their_own_journals_reports_and_artifacts(lab_factory, tmp_path, monkeypatch):
    labs = {"a": lab_factory("emqx", "--blue", 1, "--green", 1), "b": lab_factory("emqx", "--blue", 1, "--green", 1)}
    groups, entries = {}, []
    for prefix, lab in sorted(labs.items()):
        lab_groups, entry = cluster_inputs(lab, prefix)
        groups.update(lab_groups)
        entries.append(entry)
    entries[0]["name"] = "east"  # the second keeps the default name: its blue group's
    inventory, evars = tmp_path / "inventory.json", tmp_path / "vars.json"
    inventory.write_text(json.dumps({"all": {"children": groups}}))
    common = {k: v for k, v in emqx_bluegreen.extra_vars(labs["a"].description, "", **COMMON).items()
              if k not in PER_CLUSTER.values() and k != "emqx_blue_green_report_dir"}
    evars.write_text(json.dumps(dict(common, clusters=entries)))
    for name, value in SHOW_CUSTOM_STATS.items():
        monkeypatch.setenv(name, value)
    run = emqx_bluegreen.playbook(os.path.join(HERE, "two_clusters.yml"), str(inventory), str(evars), cwd=str(tmp_path), timeout=360)
    assert run.returncode == 0, run.stdout[-4000:]

    # by default each cluster has a directory of its own, under the directory the play ran from
    dirs = {name: tmp_path / "emqx-blue-green-report" / name for name in ("east", "b_blue")}
    assert sorted(os.listdir(tmp_path / "emqx-blue-green-report")) == sorted(dirs), os.listdir(tmp_path / "emqx-blue-green-report")
    reports = {name: read(path / "report.json") for name, path in dirs.items()}
    journals = {name: read(path / "journal.json") for name, path in dirs.items()}
    for name, report in reports.items():
        assert report["cluster"] == name and report["outcome"] == "upgraded", report
        assert journals[name]["cluster"] == name and journals[name]["phase"] == "done", journals[name]
        assert report["report_file"].startswith(str(dirs[name]) + os.sep), report["report_file"]
        # its own events: one move, recorded once
        phases = [e.get("phase") for e in report["events"]]
        assert phases.count("done") == 1, phases
        assert "cluster %s, report: %s" % (name, report["report_file"]) in run.stdout
    # the second cluster's run started after the first one's ended: it did not inherit its clock
    first, second = reports["east"], reports["b_blue"]
    assert second["started_at"] >= first["finished_at"], (first["finished_at"], second["started_at"])

    # one entry per cluster in the job's artifacts
    stats = custom_stats(run.stdout)["emqx_blue_green"]
    assert sorted(stats) == ["b_blue", "east"], stats
    for name, entry in stats.items():
        assert entry["outcome"] == "upgraded" and entry["report_file"] == reports[name]["report_file"], entry

    for lab in labs.values():
        info = cluster(lab.description)
        assert info["running_nodes"] == node_names(lab.description, "green"), info["running_nodes"]
