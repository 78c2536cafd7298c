"""The emqx_operator_upgrade playbooks end to end on the k8s lab under live MQTT load: the
preflight refuses before anything changes, an upgrade passes its decision point and waits for
approval, and a rollback after the finished update runs as the operator does it: a new
StatefulSet with empty volumes (add_emqx_core.go), while an evacuation left behind by someone
else is stopped."""
import json
import os
import re
import shutil
import subprocess
import sys

import pytest

pytest.importorskip("kubernetes")
pytest.importorskip("paho.mqtt")
import ansible_run  # noqa: E402  pylint: disable=import-error,wrong-import-position
import httpx  # noqa: E402  pylint: disable=wrong-import-position
from emqx_lab.load import LoadGenerator  # noqa: E402  pylint: disable=import-error,wrong-import-position
from kubectl_run import FRESH_STATUS, kubectl  # noqa: E402  pylint: disable=import-error,wrong-import-position

from collection_files import SHOW_CUSTOM_STATS, custom_stats, saved  # noqa: E402  pylint: disable=import-error,wrong-import-position

pytestmark = [pytest.mark.timeout(300), pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")]

OLD, NEW = "emqx/emqx-enterprise:5.8.6", "emqx/emqx-enterprise:5.10.4"
FAST = {"initial_delay_seconds": 2, "conn_evict_rate": 20, "sess_evict_rate": 20, "wait_takeover": 2, "wait_health_check": 2}
# fast evacuations need waitHealthCheck, which operator 2.3 has (2.2 always waits EMQX's 60 s per node)
OPERATOR_2_3 = ("--operator-version", "2.3.0")
FAST_2_2 = {k: v for k, v in FAST.items() if k != "wait_health_check"}  # operator 2.2's CRD has no waitHealthCheck


def create_ready(lab, strategy=None):
    body = {"apiVersion": "apps.emqx.io/v2beta1", "kind": "EMQX", "metadata": {"name": "emqx-ee"}, "spec": {"image": OLD}}
    kubectl(lab, "apply", "--validate=false", "-f", "-", stdin=json.dumps(body))
    rc, result = ansible_run.run_module("emqx_operator_update", {"kubeconfig": lab.description["kubeconfig"], "name": "emqx-ee",
                                                                 "update_strategy": strategy or FAST, "wait_timeout": 30,
                                                                 "poll_interval": 0.5})
    assert rc == 0, result


def playbook(lab, name, report_dir, check=False, **extra):
    evars = {"emqx_operator_upgrade_name": "emqx-ee", "emqx_operator_upgrade_wait_timeout": 300,
             "emqx_operator_upgrade_stall_timeout": 60, "emqx_operator_upgrade_poll_interval": 1.0,
             "emqx_operator_upgrade_decision_timeout": 30, "emqx_operator_upgrade_report_dir": report_dir}
    evars.update(extra)
    path = os.path.join(os.path.dirname(report_dir), "%s-vars.json" % name)
    with open(path, "w") as handle:
        json.dump(evars, handle)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=ansible_run.COLLECTIONS, ANSIBLE_NOCOLOR="1", ANSIBLE_LOCALHOST_WARNING="False",
               ANSIBLE_INVENTORY_UNPARSED_WARNING="False", K8S_AUTH_KUBECONFIG=lab.description["kubeconfig"], **SHOW_CUSTOM_STATS)
    argv = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-e", "@" + path,
            os.path.join(ansible_run.ROOT, "playbooks", name)] + (["--check"] if check else [])
    return subprocess.run(argv, env=env, timeout=280, text=True, check=False, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def report(report_dir):
    with open(os.path.join(report_dir, "report.json")) as handle:
        return json.load(handle)


def image_of(lab):
    return kubectl(lab, "get", "emqx", "emqx-ee", "-o", "jsonpath={.spec.image}")


@pytest.mark.slow
def test_preflight_refuses_an_old_operator_and_a_strategy_too_slow_for_the_timeout(lab_factory, tmp_path):
    lab = lab_factory("k8s", "--emqx-blue", 1, "--emqx-green", 1, "--operator-version", "2.1.0", *FRESH_STATUS)
    create_ready(lab, FAST_2_2)
    run = playbook(lab, "emqx_operator_upgrade.yml", str(tmp_path / "old"), emqx_operator_upgrade_image=NEW, emqx_operator_upgrade_update_strategy=FAST_2_2)
    assert run.returncode != 0
    assert "Preflight refused" in run.stdout and "EMQX Operator 2.1.0 is older than 2.2.29" in run.stdout, run.stdout[-3000:]
    assert "emqx_operator_upgrade_allow_old_operator" in run.stdout
    assert image_of(lab) == OLD

    gen = LoadGenerator("127.0.0.1", lab.description["emqx"]["lb"]["mqtt_port"], clients=30, rate=30).start()
    try:
        assert gen.wait_ready(30), gen.snapshot()
        # 30 clients at 1 per second plus EMQX's fixed 60 s health-check wait on operator 2.2 cannot fit 60 s
        run = playbook(lab, "emqx_operator_upgrade.yml", str(tmp_path / "slow"), emqx_operator_upgrade_image=NEW, emqx_operator_upgrade_allow_old_operator=True,
                       emqx_operator_upgrade_update_strategy=dict(FAST_2_2, conn_evict_rate=1), emqx_operator_upgrade_wait_timeout=60)
    finally:
        users = gen.stop()
    assert run.returncode != 0
    assert "more than the wait timeout of 60 s" in run.stdout and "connEvictRate 1" in run.stdout, run.stdout[-3000:]
    assert image_of(lab) == OLD
    assert users["sessions_lost"] == 0


SUPERVISING = "TASK [zerodowntime.cluster.emqx_operator_upgrade : Change the spec and supervise the operator's blue-green update]"
PROGRESS = re.compile(r"^EMQX default/emqx-ee update (\d+)%: ([^;]+);.*; elapsed ([\d.]+) s; ETA (>= )?([\d.]+) s$")


def check_progress_lines(stdout, old_nodes):
    """The supervising task printed where the update stood while it ran (progress_interval 3 s): the
    phase, pods, the evacuation of each old pod with what it had left, percent, elapsed and an ETA."""
    task = stdout[stdout.index(SUPERVISING):]
    task = task[:task.index("\nTASK [", 1)]
    lines = [line for line in task.splitlines() if line.startswith("EMQX default/emqx-ee update ")]
    matches = [PROGRESS.match(line) for line in lines]
    assert len(lines) >= 4 and all(matches), task
    percents = [int(m.group(1)) for m in matches]
    elapsed = [float(m.group(3)) for m in matches]
    etas = [float(m.group(5)) for m in matches]
    assert percents == sorted(percents) and percents[-1] == 100, lines
    assert matches[-1].group(2) == "update finished" and etas[-1] == 0.0 and "old pods deleted 2/2" in lines[-1], lines
    # A line per run of the module: its wait (3 s) plus its start-up, which a loaded machine can
    # stretch to seconds now and then. Silence (one line at the end, the old defect) exceeds both.
    gaps = sorted(b - a for a, b in zip(elapsed, elapsed[1:]))
    assert elapsed == sorted(elapsed) and gaps[-1] <= max(4 * 3.0, 2 * gaps[len(gaps) // 2]), lines
    assert any(m.group(2) == "evacuating old pods" and any(" %s " % node in line for node in old_nodes)
               for m, line in zip(matches, lines)), lines
    assert "new revision pods ready 2/2" in lines[-1], lines


@pytest.mark.slow
@pytest.mark.timeout(600)  # four playbooks of up to 280 s each; together about 230 s with four workers on two cores
@pytest.mark.long
def test_upgrade_held_for_approval_is_finalized_and_a_rollback_builds_a_new_set_and_stops_a_forgotten_evacuation(lab_factory, tmp_path):
    """Approval manual: the upgrade stops after its decision point, the finalize (an AWX workflow's
    approval step) accepts it, a re-run finds it done, and a rollback after all that completes.
    The operator does not scale the old StatefulSet back up: its create of the old template fails
    with AlreadyExists once the update was Available, so it counts a collision and starts a new
    set under a new hash with empty volumes (add_emqx_core.go) - no old evacuation comes back.
    An evacuation someone started by hand on a serving node and never stopped would hold the
    operator's drain (it takes the first evacuation listed for its own): the rollback stops it.
    (The upgrade without approval and its idempotence run are the Molecule scenario
    emqx_operator_upgrade.)"""
    lab = lab_factory("k8s", "--emqx-blue", 2, "--emqx-green", 2, *OPERATOR_2_3, *FRESH_STATUS)
    create_ready(lab)
    emqx = lab.description["emqx"]
    green_url = next(n["api_url"] for n in emqx["nodes"] if n["colour"] == "green")
    blue = sorted(n["name"] for n in emqx["nodes"] if n["colour"] == "blue")
    report_dir = str(tmp_path / "report")
    gen = LoadGenerator("127.0.0.1", emqx["lb"]["mqtt_port"], clients=60, rate=30).start()
    try:
        assert gen.wait_ready(30), gen.snapshot()
        # each old pod's 30 clients leave at 5/s: its evacuation lasts longer than two progress lines apart
        watched = dict(FAST, conn_evict_rate=5)
        held = playbook(lab, "emqx_operator_upgrade.yml", report_dir, emqx_operator_upgrade_image=NEW, emqx_operator_upgrade_update_strategy=watched,
                        emqx_operator_upgrade_progress_interval=3, emqx_operator_upgrade_approval="manual")
        assert held.returncode == 0, held.stdout[-4000:]
        waiting = report(report_dir)
        # the approval step of an AWX workflow runs with the same extra vars and report directory
        finalized = playbook(lab, "emqx_operator_finalize.yml", report_dir, emqx_operator_upgrade_approval="manual")
        assert finalized.returncode == 0, finalized.stdout[-4000:]
        upgraded = report(report_dir)
        with open(os.path.join(report_dir, "journal.json")) as handle:
            assert json.load(handle)["phase"] == "upgraded"
        kept = saved(report_dir)
        # a re-run finds the upgrade done: it keeps the report and the journal of the run that did it
        again = playbook(lab, "emqx_operator_upgrade.yml", report_dir, emqx_operator_upgrade_image=NEW, emqx_operator_upgrade_update_strategy=watched)
        assert again.returncode == 0, again.stdout[-4000:]
        assert saved(report_dir) == kept
        # maintenance on a green node, its evacuation never stopped (it parks in prohibiting, listed for ever)
        forgotten = sorted(n["name"] for n in emqx["nodes"] if n["colour"] == "green")[-1]
        reply = httpx.post("%s/api/v5/load_rebalance/%s/evacuation/start" % (green_url, forgotten), json={"conn_evict_rate": 50},
                           auth=(emqx["credentials"]["api_key"], emqx["credentials"]["api_secret"]), timeout=10)
        assert reply.status_code == 200, reply.text
        # the green nodes answer the EMQX API while new blue ones start (as the dashboard Service would)
        rollback = playbook(lab, "emqx_operator_rollback.yml", report_dir, emqx_operator_upgrade_emqx_api_url=green_url,
                            emqx_operator_upgrade_emqx_api_key=emqx["credentials"]["api_key"],
                            emqx_operator_upgrade_emqx_api_secret=emqx["credentials"]["api_secret"])
    finally:
        users = gen.stop()
    # the held run did the update and passed its decision point; only the acceptance waited
    assert "Decision checks passed" in held.stdout
    assert "Run playbooks/emqx_operator_finalize.yml to accept %s" % NEW in held.stdout
    assert waiting["outcome"] == "awaiting approval" and waiting["phase"] == "awaiting approval"
    assert waiting["approval"] == "manual" and waiting["decision"]["passed"] is True
    assert waiting["versions_before"] == ["5.8.6"] and waiting["image_after"] == NEW and waiting["versions_after"] == ["5.10.4"]
    assert waiting["evacuated_nodes"] == blue and waiting["revisions_before"]["current"] != waiting["revisions_after"]["current"]
    assert waiting["evacuation_timeline"] and waiting["estimate"]["old_pods"] == 2
    check_progress_lines(held.stdout, blue)
    assert upgraded["outcome"] == "upgraded" and upgraded["phase"] == "upgraded" and upgraded["decision"]["passed"] is True
    assert (upgraded["image_before"], upgraded["image_target"], upgraded["image_after"]) == (OLD, NEW, NEW)

    assert rollback.returncode == 0, rollback.stdout[-4000:]
    rolled = report(report_dir)
    # only the forgotten evacuation was stopped: the new blue nodes came with empty data directories
    assert [s["node"] for s in rolled["rollback"]["stopped_evacuations"]] == [forgotten], rolled["rollback"]
    assert "Stopped the evacuation of %s" % forgotten in rollback.stdout
    assert rolled["outcome"] == "rolled back" and rolled["rollback"]["decision"]["passed"] is True
    assert rolled["image_after"] == OLD and rolled["versions_after"] == ["5.8.6"]
    # the old template under a new hash: a new set, not the old one scaled back up
    new_revision = rolled["rollback"]["revisions_after"]["current"]
    assert new_revision not in (waiting["revisions_before"]["current"], waiting["revisions_after"]["current"])
    assert rolled["rollback"]["collision_count"] == 1 and rolled["rollback"]["new_set"] is True
    # the summary names the image, versions and revision before and after the rollback, and its checks line by line
    assert "rollback to %s (from the journal): image %s -> %s, versions 5.10.4 -> 5.8.6, revision %s -> %s" % (
        OLD, NEW, OLD, waiting["revisions_after"]["current"], new_revision) in rollback.stdout, rollback.stdout[-3000:]
    assert ("the operator started the old template as a new set, revision %s (collision count 1), with empty volumes" % new_revision
            in rollback.stdout), rollback.stdout[-3000:]
    assert "Rollback checks passed" in rollback.stdout and "{'passed'" not in rollback.stdout
    assert (rolled["image_before"], rolled["versions_before"]) == (NEW, ["5.10.4"])

    # the held run, the finalize and the rollback each kept their report (named after the time they finished),
    # report.json is the latest
    stamp = re.sub(r"[-:]", "", upgraded["finished_at"])
    assert upgraded["report_file"] == os.path.join(os.path.realpath(report_dir), "report-%s.json" % stamp)
    assert "Already upgraded to %s on %s, report: %s" % (NEW, upgraded["finished_at"], upgraded["report_file"]) in again.stdout, again.stdout[-3000:]
    runs = sorted(name for name in saved(report_dir) if re.match(r"^report-\d{8}T\d{6}Z\.json$", name))
    assert runs == sorted(os.path.basename(r["report_file"]) for r in (waiting, upgraded, rolled)), runs
    assert saved(report_dir)[os.path.basename(upgraded["report_file"])] == kept["report.json"]
    assert saved(report_dir)["report.json"] == saved(report_dir)[os.path.basename(rolled["report_file"])]
    assert users["sessions_lost"] == 0, users
    # each run handed its outcome to the job's artifacts (AWX keeps them after the job's files are gone)
    assert custom_stats(held.stdout)["emqx_operator_upgrade"]["default/emqx-ee"]["outcome"] == "awaiting approval"
    stats = custom_stats(finalized.stdout)["emqx_operator_upgrade"]["default/emqx-ee"]
    assert (stats["outcome"], stats["changed"], stats["image_before"], stats["image_after"]) == ("upgraded", True, OLD, NEW), stats
    assert stats["report_file"] == upgraded["report_file"] and stats["summary"] and stats["resource"] == upgraded["resource"], stats
    assert custom_stats(again.stdout)["emqx_operator_upgrade"]["default/emqx-ee"] == {
        "outcome": "already upgraded", "changed": False, "resource": upgraded["resource"], "image": NEW,
        "report_file": upgraded["report_file"], "upgraded_at": upgraded["finished_at"]}
    assert custom_stats(rollback.stdout)["emqx_operator_upgrade"]["default/emqx-ee"]["outcome"] == "rolled back"


@pytest.mark.slow
@pytest.mark.long
def test_failed_decision_rolls_back_by_itself_when_asked(lab_factory, tmp_path):
    lab = lab_factory("k8s", "--emqx-blue", 1, "--emqx-green", 1, *OPERATOR_2_3, *FRESH_STATUS)
    create_ready(lab)
    emqx = lab.description["emqx"]
    green_url = next(n["api_url"] for n in emqx["nodes"] if n["colour"] == "green")
    green = [n["name"] for n in emqx["nodes"] if n["colour"] == "green"]
    report_dir = str(tmp_path / "report")
    # a mislabelled image: the tag says 5.10.5, the new nodes run 5.10.4, so the decision must fail
    mislabelled = "emqx/emqx-enterprise:5.10.5"
    gen = LoadGenerator("127.0.0.1", emqx["lb"]["mqtt_port"], clients=10, rate=10).start()
    try:
        assert gen.wait_ready(30), gen.snapshot()
        run = playbook(lab, "emqx_operator_upgrade.yml", report_dir, emqx_operator_upgrade_image=mislabelled, emqx_operator_upgrade_update_strategy=FAST,
                       emqx_operator_upgrade_rollback_on_failure=True, emqx_operator_upgrade_decision_timeout=3, emqx_operator_upgrade_emqx_api_url=green_url,
                       emqx_operator_upgrade_emqx_api_key=emqx["credentials"]["api_key"],
                       emqx_operator_upgrade_emqx_api_secret=emqx["credentials"]["api_secret"])
    finally:
        users = gen.stop()
    assert run.returncode != 0  # the run fails: what was asked for did not happen
    assert "the rollback to %s finished and passed its checks" % OLD in run.stdout, run.stdout[-4000:]
    rolled = report(report_dir)
    assert rolled["outcome"] == "rolled back" and rolled["decision"]["passed"] is False
    assert any("5.10.5" in reason for reason in rolled["decision"]["reasons"]), rolled["decision"]
    assert rolled["image_after"] == OLD and rolled["versions_after"] == ["5.8.6"]
    assert image_of(lab) == OLD
    # after the finished update the old template came back as a new set on empty volumes: the blue node, evacuated
    # by the upgrade, did not resume that evacuation, and nothing had to be stopped
    assert rolled["rollback"]["new_set"] is True and rolled["rollback"]["stopped_evacuations"] == [], rolled["rollback"]
    assert rolled["rollback"]["evacuated_nodes"] == green, rolled["rollback"]
    assert users["sessions_lost"] == 0, users
