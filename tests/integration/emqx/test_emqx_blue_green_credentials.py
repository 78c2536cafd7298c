"""A wrong API secret: the role says that EMQX rejected the credentials (the nodes answered
401), not that no node answers, and it stops before anything changed."""
import pytest

from emqxtest import emqx_bluegreen, node_names, run_module  # pylint: disable=import-error

pytestmark = pytest.mark.timeout(300)
WRONG = "not-the-secret-0e8d"


@pytest.mark.slow
def test_wrong_api_secret_is_reported_as_rejected_credentials(lab_factory, report_dir):
    lab = lab_factory("emqx", "--blue", 1, "--green", 1)
    inventory, evars = emqx_bluegreen.write_inputs(lab.description, lab.workdir, report_dir, emqx_blue_green_api_secret=WRONG)
    run = emqx_bluegreen.playbook("emqx_blue_green.yml", inventory, evars)
    assert run.returncode != 0
    assert "EMQX rejected the credentials: " in run.stdout and " nodes answered HTTP 401" in run.stdout, run.stdout[-3000:]
    assert "emqx_blue_green_api_secret" in run.stdout and "No EMQX node answers" not in run.stdout
    assert WRONG not in run.stdout
    creds = lab.description["credentials"]
    rc, info = run_module("emqx_cluster_info", {"api_url": lab.description["nodes"][0]["api_url"],
                                                "api_key": creds["api_key"], "api_secret": creds["api_secret"]})
    assert rc == 0 and info["running_nodes"] == node_names(lab.description, "blue"), "green must not have been started"
