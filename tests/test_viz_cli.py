"""python -m micrograd_seq.viz: builds a layer, draws it, prints the path; bad arguments are named."""
import html
import re
import shutil
import subprocess
import sys

import pytest

requires_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="the Graphviz 'dot' program is not installed")


def run(*args, cwd, env=None):
    return subprocess.run([sys.executable, "-m", "micrograd_seq.viz", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


@requires_dot
def test_draws_an_unrolled_lstm_and_prints_its_path(tmp_path):
    result = run("--cell", "lstm", "--steps", "3", "--hidden", "4", "--out", "out/lstm.svg", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "out/lstm.svg"
    svg = (tmp_path / "out/lstm.svg").read_text(encoding="utf-8")
    assert all(f">t={t}</text>" in svg for t in range(3)) and ">forget gate</text>" in svg


@requires_dot
def test_collapsed_gradient_view_of_a_gru(tmp_path):
    result = run("--cell", "gru", "--steps", "5", "--input", "2", "--batch", "2", "--seed", "3",
                 "--collapse", "t", "--grads", "--out", "gru.svg", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    svg = (tmp_path / "gru.svg").read_text(encoding="utf-8")
    assert svg.count("‖grad‖") >= 5 and "gradient norm" in svg
    assert ">forget gate</text>" not in svg


def test_dot_source_without_the_dot_program(tmp_path):
    env = {"PATH": str(tmp_path)}
    result = run("--cell", "rnn", "--steps", "2", "--out", "rnn.dot", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "rnn.dot").read_text(encoding="utf-8").startswith('digraph "graph" {')


def test_missing_dot_program_is_explained(tmp_path):
    result = run("--out", "lstm.png", cwd=tmp_path, env={"PATH": str(tmp_path)})
    assert result.returncode == 1
    assert "apt-get install graphviz" in result.stderr and "lstm.dot" in result.stderr
    assert (tmp_path / "lstm.dot").is_file() and not (tmp_path / "lstm.png").exists()


@pytest.mark.parametrize("args, message", [
    (["--cell", "transformer", "--out", "x.svg"], "invalid choice: 'transformer'"),
    (["--steps", "0", "--out", "x.svg"], "--steps: expected a positive whole number, got 0"),
    (["--hidden", "four", "--out", "x.svg"], "--hidden: expected a positive whole number, got 'four'"),
    (["--seed", "-5", "--out", "x.svg"], "--seed: expected a whole number >= 0, got -5"),
    (["--collapse", "time", "--out", "x.svg"], "--collapse: expected 't' (time steps) or a scope depth"),
    (["--max-nodes", "0", "--out", "x.svg"], "--max-nodes: expected a positive whole number, got 0"),
    (["--grad-range", "1e-8", "1", "--out", "x.svg"], "--grad-range: it sets the colour scale of a gradient "
                                                      "drawing; add --grads"),
    (["--grads", "--grad-range", "1", "1e-8", "--out", "x.svg"], "--grad-range: expected 0 < LOW < HIGH"),
    (["--grads", "--grad-range", "0", "1", "--out", "x.svg"], "--grad-range: expected 0 < LOW < HIGH"),
    (["--grads", "--grad-range", "1e-8", "--out", "x.svg"], "--grad-range: expected 2 arguments"),
    (["--out", "x.jpg"], "cannot tell the format from 'x.jpg'"),
    (["--out", "."], "--out: '.' is a folder; give a file name, e.g. 'graph.svg'"),
    (["--out", "made/x.svg/y.svg"], "--out: cannot make the folder 'made/x.svg': 'made/x.svg' is a file"),
    ([], "the following arguments are required: --out"),
])
def test_bad_arguments_are_one_line_and_status_2(tmp_path, args, message):
    (tmp_path / "made").mkdir()
    (tmp_path / "made" / "x.svg").write_text("not a folder")
    result = run(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("python -m micrograd_seq.viz: error: ") and message in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, "one line, never a traceback"
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["made", "x.svg"], "nothing written"


@requires_dot
def test_a_missing_folder_is_made(tmp_path):
    result = run("--cell", "rnn", "--steps", "2", "--out", "new/deeper/rnn.svg", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "new/deeper/rnn.svg" and (tmp_path / "new/deeper/rnn.svg").is_file()


@requires_dot
def test_any_length_draws_within_max_nodes(tmp_path):
    result = run("--cell", "lstm", "--steps", "10000", "--grads", "--grad-range", "1e-8", "1",
                 "--out", "long.svg", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    svg = html.unescape((tmp_path / "long.svg").read_text(encoding="utf-8"))
    boxes = len(re.findall(r'<g id="[^"]*" class="node"', svg)) - 2 + svg.count('<g id="a_')  # less strip, legend
    assert boxes <= 500, boxes
    assert "… 9,588 steps …" in svg and ">t=0" in svg and ">t=9999" in svg
    assert "≤1.0e-08" in svg and "≥1.0e+00" in svg, "the legend shows the fixed scale"
