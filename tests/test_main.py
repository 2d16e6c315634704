"""python -m micrograd_seq demo: the tour runs and writes its files; bad arguments are one line and status 2."""
import shutil
import subprocess
import sys

import pytest


def run(*args, cwd):
    return subprocess.run([sys.executable, "-m", "micrograd_seq", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


@pytest.mark.parametrize("args, message", [
    (["demo", "--seconds", "0"], "--seconds: expected a positive, finite number of seconds, got '0'"),
    (["demo", "--seconds", "-1"], "--seconds: expected a positive, finite number of seconds, got '-1'"),
    (["demo", "--seconds", "nan"], "--seconds: expected a positive, finite number of seconds, got 'nan'"),
    (["demo", "--seconds", "inf"], "--seconds: expected a positive, finite number of seconds, got 'inf'"),
    (["demo", "--seconds", "soon"], "--seconds: expected a number of seconds, got 'soon'"),
    (["demo", "--out", "taken.txt"], "--out: 'taken.txt' is a file; give a folder for the demo's files"),
    (["demo", "--out", "taken.txt/inside"], "--out: cannot make the folder 'taken.txt/inside': 'taken.txt' is a file"),
    (["tour"], "invalid choice: 'tour'"),
    ([], "the following arguments are required: command"),
])
def test_bad_arguments_are_one_line_and_status_2(tmp_path, args, message):
    (tmp_path / "taken.txt").write_text("a file, not a folder")
    result = run(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("python -m micrograd_seq: error: ") and message in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, "one line, never a traceback"
    assert result.stdout == "" and [p.name for p in tmp_path.iterdir()] == ["taken.txt"], "nothing run or written"


@pytest.mark.skipif(shutil.which("dot") is None, reason="the Graphviz 'dot' program is not installed")
def test_the_tour_writes_its_pictures_and_replay_into_a_new_folder(tmp_path):
    result = run("demo", "--seconds", "0.01", "--out", "new/tour", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    written = sorted(p.name for p in (tmp_path / "new/tour").iterdir())
    assert written == ["lstm_backward_replay.html", "lstm_collapsed.svg", "lstm_gradients.svg", "lstm_unrolled.svg"]
    assert "largest difference over all three cells" in result.stdout and "it now says:" in result.stdout
