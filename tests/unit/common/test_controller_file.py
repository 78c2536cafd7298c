"""The roles' journals and reports are written on the controller in one rename: a re-run never
reads half a journal, and an unchanged file is left alone."""
import os
import stat

import pytest

from ansible_collections.zerodowntime.cluster.plugins.action.controller_file import ensure, parse_mode


def mode_of(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_writes_every_file_with_its_mode_then_changes_nothing(tmp_path):
    report, latest = str(tmp_path / "report-1.json"), str(tmp_path / "report.json")
    changed, diffs = ensure([report, latest], '{"a": 1}\n', 0o640, check=False)
    assert changed == [report, latest] and [d["after"] for d in diffs] == ['{"a": 1}\n'] * 2
    assert open(report).read() == open(latest).read() == '{"a": 1}\n'
    assert mode_of(report) == mode_of(latest) == 0o640
    assert ensure([report, latest], '{"a": 1}\n', 0o640, check=False) == ([], [])
    # only the mode differs: still a change
    assert ensure([latest], '{"a": 1}\n', 0o600, check=False)[0] == [latest] and mode_of(latest) == 0o600
    # no temporary file is left beside them
    assert sorted(os.listdir(str(tmp_path))) == ["report-1.json", "report.json"]


def test_check_mode_predicts_without_writing(tmp_path):
    journal = tmp_path / "journal.json"
    journal.write_text("old\n")
    changed, diffs = ensure([str(journal)], "new\n", 0o600, check=True)
    assert changed == [str(journal)] and diffs[0]["before"] == "old\n" and diffs[0]["after"] == "new\n"
    assert journal.read_text() == "old\n"
    # the role creates its report directory in a task that check mode skips: a new file is predicted
    fresh = str(tmp_path / "not-yet" / "journal.json")
    assert ensure([fresh], "new\n", 0o600, check=True)[0] == [fresh] and not os.path.exists(fresh)


def test_a_failed_write_leaves_the_previous_journal_whole(tmp_path, monkeypatch):
    journal = tmp_path / "journal.json"
    journal.write_text('{"phase": "draining"}\n')

    def killed(_src, _dst):
        raise KeyboardInterrupt  # the run is stopped between writing and renaming

    monkeypatch.setattr(os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        ensure([str(journal)], '{"phase": "done"}\n', 0o600, check=False)
    assert journal.read_text() == '{"phase": "draining"}\n'
    assert os.listdir(str(tmp_path)) == ["journal.json"]


def test_bad_destinations_and_modes_are_refused_before_writing(tmp_path):
    with pytest.raises(FileNotFoundError, match="directory of .* does not exist on the controller"):
        ensure([str(tmp_path / "report.json"), str(tmp_path / "missing" / "journal.json")], "x", 0o600, check=False)
    assert os.listdir(str(tmp_path)) == []
    with pytest.raises(IsADirectoryError, match="is a directory"):
        ensure([str(tmp_path)], "x", 0o600, check=False)
    for bad in ("u=rw", "0999", "77777"):
        with pytest.raises(ValueError, match="octal number"):
            parse_mode(bad)
    assert parse_mode("0644") == 0o644
