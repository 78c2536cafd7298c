"""A table of bad inputs: each is rejected with a message that names the problem, before any
request that changes state reaches the cluster."""
import pytest

from ansible_collections.zerodowntime.cluster.plugins.modules import emqx_cluster_info, emqx_evacuation, emqx_rebalance

from fake_emqx import FakeEmqx  # pylint: disable=import-error

EVAC = emqx_evacuation.main
REBAL = emqx_rebalance.main
INFO = emqx_cluster_info.main

CASES = [
    # (id, module, args, fragment of the error message)
    ("evac-no-node", EVAC, {}, "missing required arguments: node"),
    ("evac-malformed-node", EVAC, {"node": "emqx-without-host"}, "is not an EMQX node name"),
    ("evac-node-with-space", EVAC, {"node": "emqx@bad host"}, "is not an EMQX node name"),
    ("evac-unknown-node", EVAC, {"node": "emqx@nowhere"}, "emqx@nowhere is not a member of this cluster"),
    ("evac-bad-state", EVAC, {"node": "emqx@n1", "state": "drained"}, "value of state must be one of"),
    ("evac-rate-zero", EVAC, {"node": "emqx@n1", "conn_evict_rate": 0}, "conn_evict_rate must be a positive integer"),
    ("evac-rate-negative", EVAC, {"node": "emqx@n1", "sess_evict_rate": -5}, "sess_evict_rate must be a positive integer"),
    ("evac-rate-text", EVAC, {"node": "emqx@n1", "conn_evict_rate": "fast"}, "conn_evict_rate"),
    ("evac-duration-garbage", EVAC, {"node": "emqx@n1", "wait_takeover": "soon"}, "wait_takeover must be a duration"),
    ("evac-duration-negative", EVAC, {"node": "emqx@n1", "wait_takeover": -1}, "wait_takeover must not be negative"),
    ("evac-duration-too-long", EVAC, {"node": "emqx@n1", "wait_health_check": "2000h"}, "wait_health_check must be at most 4294967"),
    ("evac-duration-bool", EVAC, {"node": "emqx@n1", "wait_takeover": True}, "got a boolean"),
    ("evac-migrate-empty", EVAC, {"node": "emqx@n1", "migrate_to": []}, "migrate_to must be a non-empty list"),
    ("evac-migrate-self", EVAC, {"node": "emqx@n1", "migrate_to": ["emqx@n1"]}, "must not contain the node being acted on"),
    ("evac-migrate-duplicate", EVAC, {"node": "emqx@n1", "migrate_to": ["emqx@n2", "emqx@n2"]}, "lists emqx@n2 more than once"),
    ("evac-migrate-malformed", EVAC, {"node": "emqx@n1", "migrate_to": ["n2"]}, "'n2' is not an EMQX node name"),
    ("evac-migrate-unknown", EVAC, {"node": "emqx@n1", "migrate_to": ["emqx@ghost"]}, "migrate_to: emqx@ghost is not a member"),
    ("evac-redirect-empty", EVAC, {"node": "emqx@n1", "redirect_to": "  "}, "redirect_to must be a non-empty"),
    ("evac-redirect-port", EVAC, {"node": "emqx@n1", "redirect_to": "green:99999"}, "port in 'green:99999' is out of range"),
    ("evac-redirect-junk", EVAC, {"node": "emqx@n1", "redirect_to": "mqtt://green/x"}, "is not a host or host:port"),
    ("evac-normal-with-rates", EVAC, {"node": "emqx@n1", "state": "normal", "conn_evict_rate": 5}, "only apply when starting"),
    ("evac-wait-timeout-zero", EVAC, {"node": "emqx@n1", "wait_timeout": 0}, "wait_timeout must be a positive"),
    ("evac-poll-negative", EVAC, {"node": "emqx@n1", "poll_interval": -1}, "poll_interval must be a positive"),
    ("evac-two-credentials", EVAC, {"node": "emqx@n1", "username": "admin", "password": "pw"}, "mutually exclusive: api_key|username"),
    ("evac-key-without-secret", EVAC, {"node": "emqx@n1", "api_secret": None}, "parameters are required together: api_key, api_secret"),
    ("evac-bad-api-version", EVAC, {"node": "emqx@n1", "api_version": "v3"}, "value of api_version must be one of"),
    ("evac-app-on-v5", EVAC, {"node": "emqx@n1", "api_key": None, "api_secret": None, "app_id": "a", "app_secret": "b",
                              "api_version": "v5"}, "app_id/app_secret are 4.4"),
    ("evac-cert-without-key", EVAC, {"node": "emqx@n1", "client_cert": "/x.pem"}, "required together: client_cert, client_key"),
    ("rebal-no-node", REBAL, {}, "missing required arguments: node"),
    ("rebal-malformed-node", REBAL, {"node": "n1"}, "is not an EMQX node name"),
    ("rebal-rel-threshold-one", REBAL, {"node": "emqx@n1", "rel_conn_threshold": 1.0}, "rel_conn_threshold must be greater than 1.0"),
    ("rebal-rel-sess-below-one", REBAL, {"node": "emqx@n1", "rel_sess_threshold": 0.5}, "rel_sess_threshold must be greater than 1.0"),
    ("rebal-abs-zero", REBAL, {"node": "emqx@n1", "abs_conn_threshold": 0}, "abs_conn_threshold must be a positive integer"),
    ("rebal-nodes-empty", REBAL, {"node": "emqx@n1", "nodes": []}, "nodes must be a non-empty list"),
    ("rebal-nodes-single", REBAL, {"node": "emqx@n1", "nodes": ["emqx@n1"]}, "at least two nodes"),
    ("rebal-nodes-unknown", REBAL, {"node": "emqx@n1", "nodes": ["emqx@n1", "emqx@zz"]}, "nodes: emqx@zz is not a member"),
    ("rebal-coordinator-unknown", REBAL, {"node": "emqx@zz"}, "coordinator emqx@zz is not a member"),
    ("rebal-rpc-timeout-zero", REBAL, {"node": "emqx@n1", "conn_evict_rpc_timeout": 0}, "conn_evict_rpc_timeout must be greater than zero"),
    ("rebal-rpc-timeout-old-server", REBAL, {"node": "emqx@n1", "sess_evict_rpc_timeout": "5s"}, "needs EMQX 5.9.0 or later"),
    ("rebal-absent-with-options", REBAL, {"node": "emqx@n1", "state": "absent", "nodes": ["emqx@n1", "emqx@n2"]}, "only apply when starting"),
    ("rebal-rate-zero", REBAL, {"node": "emqx@n1", "conn_evict_rate": 0}, "conn_evict_rate must be a positive integer"),
    ("info-no-url", INFO, {"api_url": None}, "missing required arguments: api_url"),
    ("info-no-credentials", INFO, {"api_key": None, "api_secret": None}, "one of the following is required: api_key, username, app_id"),
]


@pytest.mark.parametrize("main,args,fragment", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_rejected_before_any_change(main, args, fragment, run_module):
    fake = FakeEmqx()
    failed, result = run_module(main, fake, args)
    assert failed, result
    assert fragment in result["msg"], result["msg"]
    assert fake.changing_requests() == []


def test_table_is_large_enough():
    assert len(CASES) >= 30
