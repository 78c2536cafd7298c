"""The EMQX blue-green upgrade as an AWX workflow runs it: the upgrade job and, after the approval,
the finalize job, each with ansible-runner in a private data directory of its own (the second
cannot see the first's journal, only the artifacts AWX hands over), the API credentials injected
from the shipped credential type into environment variables as AWX renders them, at -vvv; under
real MQTT load, nothing lost, and no secret anywhere in either job's events or output."""
import os

import pytest

from emqxtest import cluster, emqx_bluegreen, mqtt_load, node_names  # pylint: disable=import-error

import awx_jobs  # pylint: disable=import-error

pytestmark = pytest.mark.timeout(600)

FAST = {"emqx_blue_green_wait_health_check": 1, "emqx_blue_green_wait_takeover": 1, "emqx_blue_green_soak_seconds": 4,
        "emqx_blue_green_probe_interval": 2, "emqx_blue_green_poll_interval": 1}


@pytest.mark.slow
@pytest.mark.long
def test_upgrade_job_then_finalize_job_with_injected_credentials_and_no_secret_in_any_event(lab_factory, tmp_path):
    lab = lab_factory("emqx", "--blue", 1, "--green", 1)
    creds = lab.description["credentials"]
    inventory = emqx_bluegreen.inventory(lab.description)
    # what a job template's extra vars and survey hold: no credential among them
    extravars = {k: v for k, v in emqx_bluegreen.extra_vars(lab.description, "", **FAST).items()
                 if k not in ("emqx_blue_green_api_key", "emqx_blue_green_api_secret", "emqx_blue_green_report_dir")}
    cred_type = awx_jobs.credential_type("zerodowntime EMQX API")

    with mqtt_load(lab.description, clients=100, rate=20) as users:
        emqx_bluegreen.wait_for_clients(lab.description, 100)
        first_dir = awx_jobs.private_data_dir(str(tmp_path / "job1"), inventory)
        env = awx_jobs.inject(cred_type, {"api_key": creds["api_key"], "api_secret": creds["api_secret"]}, first_dir)
        assert env["EMQX_API_SECRET"] == creds["api_secret"] and env["EMQX_CA_PATH"] == ""
        status, rc, handed, events, stdout = awx_jobs.run_job(first_dir, "playbooks/emqx_blue_green.yml",
                                                              dict(extravars, emqx_blue_green_approval="manual"), env, "upgrade")
        assert (status, rc) == ("successful", 0), stdout[-4000:]
        summary = handed["emqx_blue_green"]["emqx_blue"]
        assert summary["outcome"] == "awaiting approval" and summary["gate_passed"] is True, summary
        assert creds["api_secret"] not in events, "the API secret is in the upgrade job's events or output"
        assert "EXEC" in stdout or "ESTABLISH LOCAL CONNECTION" in stdout, "ran at -vvv"

        # the approval node passed: the finalize job gets the upgrade job's artifacts as extra vars, and
        # a project checkout of its own, without the upgrade job's journal
        assert os.path.exists(os.path.join(first_dir, "project", "emqx-blue-green-report", "emqx_blue", "journal.json"))
        second_dir = awx_jobs.private_data_dir(str(tmp_path / "job2"), inventory)
        env = awx_jobs.inject(cred_type, {"api_key": creds["api_key"], "api_secret": creds["api_secret"]}, second_dir)
        status, rc, final, events, stdout = awx_jobs.run_job(second_dir, "playbooks/emqx_blue_green_finalize.yml",
                                                             dict(extravars, **handed), env, "finalize")
        assert (status, rc) == ("successful", 0), stdout[-4000:]
        assert "Finalizing the move the upgrade job left awaiting approval" in stdout, stdout[-4000:]
        assert final["emqx_blue_green"]["emqx_blue"]["outcome"] == "upgraded", final
        assert creds["api_secret"] not in events, "the API secret is in the finalize job's events or output"
    assert sorted(cluster(lab.description)["running_nodes"]) == node_names(lab.description, "green")
    assert users["sessions_lost"] == 0 and users["messages_lost"] == 0, users


@pytest.mark.slow
def test_finalize_job_refuses_a_move_that_the_upgrade_job_rolled_back(lab_factory, tmp_path):
    lab = lab_factory("emqx", "--blue", 1, "--green", 1)
    creds = lab.description["credentials"]
    base = awx_jobs.private_data_dir(str(tmp_path / "job"), emqx_bluegreen.inventory(lab.description))
    env = awx_jobs.inject(awx_jobs.credential_type("zerodowntime EMQX API"), {"api_key": creds["api_key"], "api_secret": creds["api_secret"]}, base)
    extravars = {k: v for k, v in emqx_bluegreen.extra_vars(lab.description, "", **FAST).items()
                 if k not in ("emqx_blue_green_api_key", "emqx_blue_green_api_secret", "emqx_blue_green_report_dir")}
    reason = "green nodes not running (stopped, or cut off from the cluster): emqx-g1"
    handed = {"emqx_blue_green": {"emqx_blue": {"outcome": "rolled back", "gate_reasons": [reason]}}}
    status, _rc, _final, events, stdout = awx_jobs.run_job(
        base, "playbooks/emqx_blue_green_finalize.yml", dict(extravars, **handed), env, "finalize", verbosity=0)
    assert status == "failed"
    assert "the upgrade job handed over outcome 'rolled back' for cluster emqx_blue (%s)" % reason in stdout, stdout[-3000:]
    assert sorted(cluster(lab.description)["running_nodes"]) == node_names(lab.description, "blue")
    assert creds["api_secret"] not in events


@pytest.mark.slow
def test_the_upgrade_job_runs_inside_the_execution_environment(lab_factory, tmp_path):
    """The same job in the image `make ee-image` builds from extensions/ee (podman, as AWX runs
    it): the collection's Python requirements are in the image, the credential reaches the modules
    in the container through the environment, the summary reaches the artifacts, no secret leaks.
    Green runs already and no hook is set (a hook of the labs runs the lab's own tools, which the
    image does not carry): blue is drained and kept out of the pool."""
    lab = lab_factory("emqx", "--blue", 1, "--green", 1, "--start-green")
    creds = lab.description["credentials"]
    base = awx_jobs.private_data_dir(str(tmp_path / "job"), emqx_bluegreen.inventory(lab.description))
    env = awx_jobs.inject(awx_jobs.credential_type("zerodowntime EMQX API"), {"api_key": creds["api_key"], "api_secret": creds["api_secret"]}, base)
    extravars = {k: v for k, v in emqx_bluegreen.extra_vars(lab.description, "", **FAST).items()
                 if not k.startswith(("emqx_blue_green_api_", "emqx_blue_green_report_dir", "emqx_blue_green_deploy_", "emqx_blue_green_remove_"))}
    with mqtt_load(lab.description, clients=60, rate=20) as users:
        emqx_bluegreen.wait_for_clients(lab.description, 60)
        status, rc, handed, events, stdout = awx_jobs.run_job(base, "playbooks/emqx_blue_green.yml", extravars, env, "in-ee",
                                                              container_mounts=[lab.workdir])
        assert (status, rc) == ("successful", 0), stdout[-4000:]
    assert "/opt/ee/bin/python3" in stdout, "the job ran with the image's Python"
    assert handed["emqx_blue_green"]["emqx_blue"]["outcome"] == "upgraded", handed
    assert creds["api_secret"] not in events
    info = cluster(lab.description)
    assert [e["node"] for e in info["evacuations"]] == node_names(lab.description, "blue")
    assert users["sessions_lost"] == 0 and users["messages_lost"] == 0, users
