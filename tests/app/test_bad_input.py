"""Hostile and careless input on the command line: every file of ``hostile_files`` through
validate, summary, train and export ends in at most one stderr line naming the place, a
non-zero exit where the command cannot do its job, no traceback, and the file untouched. Plus
special files, bugs (traceback kept, and logged where the message says), and the log."""

from __future__ import annotations

import os

import pytest
from hostile_files import PROJECTS, write_project

from app.cli import main


def run(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def at_most_one_line(err: str) -> str:
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) <= 1, err
    return lines[0] if lines else ""


@pytest.mark.parametrize("name", sorted(PROJECTS))
def test_a_bad_project_gets_one_line_everywhere_and_stays_as_it_was(capsys, tmp_path, name):
    path = write_project(tmp_path, name)
    before = path.read_bytes()
    words = PROJECTS[name][1]
    code, _, err = run(capsys, "train", str(path), "--epochs", "1", "--quiet", "--no-record",
                       "--out", str(tmp_path / "run"))
    line = at_most_one_line(err)
    assert code == 1 and words in line, line
    assert line.startswith("layerforge: error: ")
    for argv in (("validate", str(path)), ("summary", str(path)),
                 ("export", str(path), "--format", "npz", "-o", str(tmp_path / "w.npz"))):
        code, out, err = run(capsys, *argv)
        line = at_most_one_line(err)
        assert "Traceback" not in out
        assert code in (0, 1), (argv, code)
        if code == 0:
            assert not line
    assert path.read_bytes() == before
    assert not (tmp_path / "w.npz").exists()


def test_special_files_are_refused_not_read(capsys, tmp_path):
    from hostile_files import spiral

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    project = tmp_path / "p.json"
    project.write_text(__import__("json").dumps(spiral()))
    cases = [
        (("validate", str(fifo)), "is not a regular file"),
        (("train", str(project), "--init-weights", str(fifo), "--quiet", "--no-record"),
         "--init-weights: "),
        (("train", str(project), "--resume", str(fifo), "--quiet", "--no-record"),
         "--resume: "),
        (("train", str(project), "--init-weights", "/dev/zero", "--quiet", "--no-record"),
         "not a regular file"),
        (("train", str(project), "--init-weights", str(tmp_path), "--quiet", "--no-record"),
         "is a folder"),
        (("export", str(project), "--weights", "/dev/zero", "--format", "npz", "-o",
          str(tmp_path / "x.npz")),
         "--weights: /dev/zero is not a regular file"),
    ]
    for argv, words in cases:
        code, _, err = run(capsys, *argv)
        line = at_most_one_line(err)
        assert code == 1 and words in line, (argv, line)
    csv = spiral()
    csv["dataset"] = {"name": "CSV", "options": {"path": "pipe", "label_column": -1},
                      "validation_split": 0.1, "split_seed": 0, "transforms": [],
                      "normalize": None}
    project.write_text(__import__("json").dumps(csv))
    code, _, err = run(capsys, "train", str(project), "--quiet", "--no-record")
    line = at_most_one_line(err)
    assert code == 1 and f"{project}: dataset.options.path: {fifo} is not a regular file" \
        in line, line


def test_a_bug_keeps_its_traceback_and_the_log_has_it(capsys, tmp_path, monkeypatch):
    from app.core import logfile
    from app.core.paths import user_data_dir

    def broken(_args):  # noqa: ANN001, ANN202
        raise ZeroDivisionError("a bug in the summary")

    monkeypatch.setitem(__import__("app.cli.commands", fromlist=["_HANDLERS"])._HANDLERS,
                        "summary", broken)
    code, _, err = run(capsys, "summary", "x.json")
    assert code == 1 and "Traceback" in err and "ZeroDivisionError" in err
    last = err.strip().splitlines()[-1]
    log = user_data_dir() / "logs" / "layerforge.log"
    assert str(log) in last and "bug" in last
    logfile.close_log()
    text = log.read_text(encoding="utf-8")
    assert "layerforge summary x.json" in text and "a bug in the summary" in text
    # a user's mistake is one line in the log too (what happened before a bug, if one follows)
    code, _, err = run(capsys, "validate", str(tmp_path / "missing.json"))
    assert code == 1
    logfile.close_log()
    assert "missing.json: no such file" in log.read_text(encoding="utf-8")


def test_a_checkpoint_that_cannot_continue_is_refused_before_a_run_folder_is_made(capsys,
                                                                                  tmp_path):
    from hostile_files import spiral

    data = spiral()
    data["training"]["epochs"] = 2
    first = tmp_path / "a.json"
    first.write_text(__import__("json").dumps(data))
    assert run(capsys, "train", str(first), "--quiet", "--no-record", "--out",
               str(tmp_path / "r"))[0] == 0
    ckpt = tmp_path / "r" / "checkpoints" / "last.safetensors"
    data["graph"]["nodes"][1]["params"]["out_features"] = 32  # the graph was edited since
    edited = tmp_path / "b.json"
    edited.write_text(__import__("json").dumps(data))
    for project, words in ((edited, "was saved from a different network: fc1.weight is "
                                    "(16, 2) there and (32, 2) here"),
                           (first, "has already trained 2 epoch(s) and this run is set to 2")):
        code, _, err = run(capsys, "train", str(project), "--quiet", "--no-record", "--out",
                           str(tmp_path / "again"), "--resume", str(ckpt))
        line = at_most_one_line(err)
        assert code == 1 and words in line, line
        assert not (tmp_path / "again").exists()
