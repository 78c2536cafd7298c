"""emqx_cluster_sampler against the fake API: one sample a second until the stop file, the time
limit, or a cluster that stopped answering; arrivals per second from the per-node counts."""
import pytest

from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.errors import ValidationError
from ansible_collections.zerodowntime.cluster.plugins.module_utils._emqx import sampler as logic
from ansible_collections.zerodowntime.cluster.plugins.module_utils._emqx.client import EmqxClient

from fake_emqx import FakeEmqx, base_params, node  # pylint: disable=import-error


def down(fake, reads=100):
    for dummy in range(reads):
        fake.script("GET", "/api/v5/nodes", 503, {"code": "SERVICE_UNAVAILABLE", "message": "down"})


def sample_for(fake, clock, stop_after=None, wall_offset=500.0, factory_fakes=None, **overrides):
    """Run the sampler; the stop file appears after ``stop_after`` seconds of the fake clock."""
    params = base_params(stop_file="/run/stop", interval=1.0, max_duration=3600.0, give_up_after=60.0, origin=None,
                         other_api_urls=[])
    params.update(overrides)
    started = clock.now

    def exists(path):
        assert path == "/run/stop"
        return stop_after is not None and clock.now - started >= stop_after

    def factory(url):
        return EmqxClient(dict(params, api_url=url), transport=(factory_fakes or {})[url].transport, sleep=clock.sleep)

    client = EmqxClient(params, transport=fake.transport, sleep=clock.sleep)
    return logic.Sampler(client, params, factory, clock=clock, wall=lambda: clock.now + wall_offset,
                         sleep=clock.sleep, exists=exists).run()


def test_samples_once_a_second_until_the_stop_file_and_counts_arrivals(fake, clock):
    out = sample_for(fake, clock, stop_after=5.0, origin=1400.0)
    assert out["stopped_by"] == "stop_file" and out["errors"] == []
    # t counts from origin (the procedure's start), one point a second
    assert [s["t"] for s in out["samples"]] == [100.0, 101.0, 102.0, 103.0, 104.0]
    assert out["samples"][0]["connections"] == {"emqx@n1": 30, "emqx@n2": 10, "emqx@n3": 0}


def test_arrivals_are_the_rises_per_node_per_second():
    samples = [{"t": 0.0, "connections": {"b": 100, "g": 0}}, {"t": 1.0, "connections": {"b": 60, "g": 40}},
               {"t": 3.0, "connections": {"b": 0, "g": 90}}, {"t": 4.0, "connections": {"g": 90}}]
    assert logic.reconnect_rates(samples) == [{"t": 1.0, "per_s": 40.0}, {"t": 3.0, "per_s": 25.0}, {"t": 4.0, "per_s": 0.0}]


def test_stops_by_itself_at_the_time_limit_and_when_no_node_answers(fake, clock):
    out = sample_for(fake, clock, max_duration=3.0)
    assert out["stopped_by"] == "max_duration" and len(out["samples"]) == 3
    down(fake)
    out = sample_for(fake, clock, give_up_after=10.0)
    assert out["stopped_by"] == "give_up_after" and out["samples"] == []
    assert len(out["errors"]) == 1 and "503" in out["errors"][0]["error"]  # the same error once, not at every read


def test_reads_through_another_node_when_the_first_stops_answering(clock):
    first, second = FakeEmqx(), FakeEmqx(nodes=[node("emqx@n2", live=7)])
    down(first)
    out = sample_for(first, clock, stop_after=2.0, other_api_urls=["http://n2:18083"], factory_fakes={"http://n2:18083": second})
    assert [s["connections"] for s in out["samples"]] == [{"emqx@n2": 7}, {"emqx@n2": 7}]


def test_memory_stays_bounded_on_a_long_run(fake, clock, monkeypatch):
    monkeypatch.setattr(logic, "MAX_SAMPLES", 10)
    out = sample_for(fake, clock, max_duration=40.0)
    assert len(out["samples"]) <= 11 and out["interval"] > 1.0
    assert out["samples"][0]["t"] == 0.0 and out["samples"][-1]["t"] >= 30.0  # still spread over the whole run


def test_bad_limits_are_refused_before_reading(fake, clock):
    with pytest.raises(ValidationError, match="interval must be greater than 0"):
        sample_for(fake, clock, interval=0.0)
    assert fake.requests == []
