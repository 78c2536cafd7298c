"""The fleet's waves are the batches Ansible's serial makes (checked against Ansible's own code),
its plan predicts each wave from its slowest cluster, and its table names why a fleet halted."""
import pytest

from ansible.executor.playbook_executor import PlaybookExecutor
from ansible.playbook.play import Play

from ansible_collections.zerodowntime.cluster.plugins.filter.fleet import fleet_plan, fleet_report_lines, fleet_timeline_svg


class _Inventory:
    def __init__(self, hosts):
        self.hosts = hosts

    def get_hosts(self, pattern, order=None):  # pylint: disable=unused-argument
        return list(self.hosts)


def ansible_batches(hosts, serial):
    """The batches ansible-playbook itself makes for a play with this serial."""
    executor = PlaybookExecutor.__new__(PlaybookExecutor)
    executor._inventory = _Inventory(hosts)  # pylint: disable=protected-access
    play = Play.load({"hosts": "all", "serial": serial, "tasks": []})
    return executor._get_serialized_batches(play)  # pylint: disable=protected-access


@pytest.mark.parametrize("count", [1, 2, 4, 5, 9])
@pytest.mark.parametrize("serial", [[1, "25%"], [1, 1, "100%"], ["30%"], [2], [1, 3, "50%"], [0], []])
def test_waves_are_the_batches_ansible_makes(count, serial):
    hosts = ["c%d" % i for i in range(count)]
    plan = fleet_plan(hosts, serial, {}, 0)
    assert [w["clusters"] for w in plan["waves"]] == ansible_batches(hosts, serial)


def test_a_wave_takes_its_slowest_cluster_plus_the_soak_and_done_clusters_cost_nothing():
    clusters = {"a": {"done": True, "predicted_s": 0}, "b": {"done": False, "predicted_s": 40},
                "c": {"done": False, "predicted_s": 100}, "d": {"done": False, "predicted_s": 70}}
    plan = fleet_plan(["a", "b", "c", "d"], [1, 1, "100%"], clusters, 30)
    assert [w["predicted_s"] for w in plan["waves"]] == [0.0, 70.0, 130.0]
    assert plan["predicted_s"] == 200.0
    assert plan["wave_of"] == {"a": 1, "b": 2, "c": 3, "d": 3}
    assert plan["lines"][0] == "wave 1 (canary): nothing to do, about 0 s (already upgraded, skipped: a)"
    assert plan["lines"][2] == "wave 3 (wave): c, d, about 2 min 10 s"


def test_an_unknown_prediction_makes_the_wave_and_the_fleet_unknown():
    plan = fleet_plan(["a", "b"], [1], {"a": {"predicted_s": 10}, "b": {"predicted_s": None}}, 0)
    assert [w["predicted_s"] for w in plan["waves"]] == [10.0, None]
    assert plan["predicted_s"] is None and "about unknown" in plan["lines"][-1]


def test_bad_waves_are_refused_clearly():
    with pytest.raises(Exception, match="not host counts or percentages"):
        fleet_plan(["a"], ["one"], {}, 0)


def test_the_table_has_a_row_per_cluster_in_wave_order_and_says_why_the_fleet_halted():
    records = [{"cluster": "b", "wave": 2, "outcome": "rolled back", "duration_s": 75, "message": "the gate failed"},
               {"cluster": "a", "wave": 1, "outcome": "upgraded", "duration_s": 130.4, "minimum_s": 20, "vs_minimum": 1.234, "losses": 0},
               {"cluster": "c", "wave": 3, "outcome": "not started"}]
    lines = fleet_report_lines(records)
    assert lines[0].split() == ["cluster", "wave", "outcome", "duration", "minimum", "vs", "minimum", "losses"]
    assert lines[1].split() == ["a", "1", "upgraded", "2", "min", "10", "s", "20", "s", "1.23", "0"]
    assert lines[2].startswith("b ") and lines[3].startswith("c ")
    assert lines[-1] == "b: the gate failed"


def test_the_timeline_has_a_bar_per_cluster_that_ran():
    svg = fleet_timeline_svg([{"cluster": "a<1>", "wave": 1, "outcome": "upgraded", "started": 100, "finished": 160},
                              {"cluster": "b", "wave": 2, "outcome": "failed", "started": 170, "finished": 200},
                              {"cluster": "c", "wave": 3, "outcome": "not started"}], "Fleet")
    assert svg.count("<title>") == 2 and "a&lt;1&gt;" in svg and "#d64541" in svg
