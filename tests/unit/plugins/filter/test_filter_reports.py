"""Where one run's report is kept: beside the latest report, named after the time the run finished."""
import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.zerodowntime.cluster.plugins.filter.reports import FilterModule, run_report_path

STAMP = "20250102T030405Z"


@pytest.mark.parametrize("path, expected", [
    ("/srv/upgrade/report.json", "/srv/upgrade/report-20250102T030405Z.json"),
    ("reports/kilda-blue-green-kilda-report.json", "reports/kilda-blue-green-kilda-report-20250102T030405Z.json"),
    ("report.json", "report-20250102T030405Z.json"),
    ("/srv/upgrade/connections.svg", "/srv/upgrade/connections-20250102T030405Z.svg"),
    ("/srv/upgrade/report", "/srv/upgrade/report-20250102T030405Z"),
    ("/srv/up.grade/report", "/srv/up.grade/report-20250102T030405Z"),
    ("/srv/upgrade/.report", "/srv/upgrade/.report-20250102T030405Z"),
    ("/srv/upgrade/report.tar.gz", "/srv/upgrade/report.tar-20250102T030405Z.gz"),
])
def test_the_run_s_file_sits_beside_the_latest(path, expected):
    assert run_report_path(path, STAMP) == expected


def test_run_files_sort_by_time():
    stamps = ["20250102T030405Z", "20250102T030406Z", "20251231T000000Z"]
    files = [run_report_path("/r/report.json", s) for s in stamps]
    assert sorted(files) == files


def test_no_report_file_no_run_file():
    assert run_report_path("", STAMP) == ""


@pytest.mark.parametrize("path", ["/srv/upgrade/", None, 3])
def test_not_a_report_file(path):
    with pytest.raises(AnsibleFilterError, match="expected the path of a report file"):
        run_report_path(path, STAMP)


@pytest.mark.parametrize("stamp", ["2025-01-02T03:04:05Z", "20250102T030405", "", None, 20250102])
def test_not_a_stamp(stamp):
    with pytest.raises(AnsibleFilterError, match="expected a UTC time stamp"):
        run_report_path("/r/report.json", stamp)


def test_filter_is_registered_under_its_name():
    assert FilterModule().filters() == {"run_report_path": run_report_path}
