"""The published results: docs/results.json, the pages rendered from it, and the runner that writes both.

The fast checks here run in ``make test``; the full runs themselves are ``make results``.
"""
from __future__ import annotations

import difflib
import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "examples"))

import _results  # noqa: E402  (examples/ is not a package: its scripts import each other by plain name)
import run_all  # noqa: E402
from _results import Record, RenderError, Row, Run, RunFailed, each, lines, number, text  # noqa: E402

STORED = _results.load_records()
FIELDS = {"command", "seed", "blas_threads", "result", "metric", "value", "baseline", "figures", "wall_s", "cpu_s",
          "commit", "uncommitted_changes", "python", "numpy", "blas", "libraries", "machine", "date"}


# ---- the committed record and pages ----------------------------------------------------------------

@pytest.mark.parametrize("template", sorted(_results.TEMPLATES.glob("*.md")), ids=lambda p: p.name)
def test_page_is_what_results_json_renders(template: Path) -> None:
    """The page's table and every figure in its prose come from docs/results.json: no hand edits, no stale numbers."""
    pages = _results.render_pages(run_all.RUNS, STORED)
    page = ROOT / "docs" / template.name
    expected = pages[page]
    actual = page.read_text(encoding="utf-8") if page.exists() else ""
    if actual != expected:
        diff = "\n".join(difflib.unified_diff(expected.splitlines(), actual.splitlines(),
                                              "rendered from docs/results.json", f"docs/{template.name}",
                                              lineterm="", n=1))
        pytest.fail(f"docs/{template.name} is not what docs/templates/{template.name} and docs/results.json "
                    f"render: edit the template, not the page, and run python examples/run_all.py --render\n{diff}",
                    pytrace=False)


def test_every_example_named_on_a_page_has_a_record() -> None:
    pages = [ROOT / "docs" / t.name for t in _results.TEMPLATES.glob("*.md")]
    named = {name for page in pages for name in re.findall(r"examples/(\w+)\.py", page.read_text(encoding="utf-8"))}
    named -= {"run_all", "_results", "_common"}
    recorded = {run.script for run in run_all.RUNS if run.name in STORED}
    assert named, "the pages name no example"
    assert not named - recorded, f"examples named on the pages without a record in docs/results.json: " \
                                 f"{sorted(named - recorded)}; add a Run to examples/run_all.py and run it"


def test_every_example_is_a_registered_run() -> None:
    scripts = {p.stem for p in (ROOT / "examples").glob("*.py")} - {"run_all"}
    scripts = {s for s in scripts if not s.startswith("_")}
    assert scripts <= {run.script for run in run_all.RUNS}, \
        f"examples with no Run in examples/run_all.py: {sorted(scripts - {run.script for run in run_all.RUNS})}"


def test_every_run_has_a_complete_record_of_its_command() -> None:
    """A record is made by the command the registry states; changing a run's arguments needs a new run."""
    for run in run_all.RUNS:
        assert run.name in STORED, f"{run.name} has no record: python examples/run_all.py {run.name}"
        record = STORED[run.name]
        assert set(record) >= FIELDS, f"{run.name}: the record lacks {sorted(FIELDS - set(record))}"
        assert record["command"] == run.command and record["seed"] == run.seed and record["blas_threads"] == 1
        assert not record["uncommitted_changes"], f"{run.name} ran with uncommitted code: commit it and run it again"
        metric, value, baseline = record["metric"], record["value"], record["baseline"]
        assert record["result"] == f"RESULT: {metric}={value:.4g} (baseline {baseline:.4g})"
        for picture in run.pictures.values():
            assert (_results.IMAGES / picture).is_file(), f"{run.name}: docs/images/{picture} is missing"
    assert set(STORED) <= {run.name for run in run_all.RUNS}, "docs/results.json has records of runs no longer run"


def test_registry_names_are_unique() -> None:
    names = [run.name for run in run_all.RUNS]
    assert len(names) == len(set(names))


# ---- placeholders ----------------------------------------------------------------------------------

RECORDS = {"digits": Record("digits", {"value": 0.9778, "baseline": 0.102, "wall_s": 271.0, "metric": "accuracy",
                                       "figures": {"rnn": 0.9667, "lstm": 0.9867, "left": "never", "tiny": 3.4e-21}})}


@pytest.mark.parametrize(("placeholder", "shown"), [
    ("{{digits.rnn:.1%}}", "96.7 %"),
    ("{{digits.value:.4g}}", "0.9778"),
    ("{{digits.tiny:.0e}}", "3e-21"),
    ("{{digits.wall_s:time}}", "4.5 min"),
    ("{{digits.metric}}", "accuracy"),
    ("{{ (digits.lstm - digits.rnn) / digits.rnn :.1%}}", "2.1 %"),
    ("{{max(digits.rnn, digits.lstm):.2f}}", "0.99"),
    ("{{digits.rnn < digits.lstm}}", "yes"),
    ("a{{? digits.left == 'never' and digits.rnn > 0.9}}b", "ab"),
])
def test_placeholders_render(placeholder: str, shown: str) -> None:
    assert _results.render(placeholder, RECORDS, "page.md") == shown


def test_a_claim_that_no_longer_holds_names_its_line() -> None:
    with pytest.raises(RenderError, match=r"page.md:3: .*the claim 'digits.rnn > digits.lstm' no longer holds"):
        _results.render("one\ntwo\nthe RNN wins{{? digits.rnn > digits.lstm}}.", RECORDS, "page.md")


def test_every_failing_placeholder_is_listed() -> None:
    with pytest.raises(RenderError) as caught:
        _results.render("{{digits.rnnn}} and {{sentiment.value}}", RECORDS, "page.md")
    message = str(caught.value)
    assert "no figure 'rnnn'; it has: left, lstm, rnn, tiny" in message
    assert "'sentiment' is no run with a record" in message


@pytest.mark.parametrize("expression", ["__import__('os').system('true')", "digits.__class__", "digits['rnn']",
                                        "open('x')", "[1, 2]", "digits.rnn.real", "(lambda: 1)()"])
def test_placeholders_evaluate_nothing_but_figures_and_arithmetic(expression: str) -> None:
    with pytest.raises(RenderError):
        _results.evaluate(expression, RECORDS)


def test_the_table_has_a_row_per_run_with_a_row() -> None:
    runs = [Run("digits", "digits", row=Row("[digits](#digits)", lambda r: f"{r.lstm:.1%} LSTM",
                                            target="95 %", met=lambda r: "yes")),
            Run("digits_seed1", "digits", seed=1)]
    table = _results.results_table(runs, {**RECORDS, "digits": Record("digits", {**RECORDS["digits"]._data,
                                                                                  "cpu_s": 30.0})})
    assert table.splitlines()[2] == "| [digits](#digits) | 98.7% LSTM | 0.102 | 95 % | yes | 4.5 min (30 s) |"
    assert len(table.splitlines()) == 3
    with pytest.raises(RenderError, match="digits has no record.*python examples/run_all.py digits"):
        _results.results_table(runs, {})


# ---- figures parsed from what an example printed ---------------------------------------------------

OUTPUT = """\
1,797 digits, 96.67% right
| 10 | RNN | 0.0022 | 60.3% | 310 |
| 10 | constant 1 | 0.1735 | 8.2% | - |
step 1 loss 2
step 2 loss 1
--- sample ---
two
lines
--- end ---
"""


def test_figures_parse_numbers_percentages_rows_and_text() -> None:
    assert number("digits", r"^([\d,]+) digits")(OUTPUT) == {"digits": 1797}
    assert number("right", r"digits, (\S+) right")(OUTPUT) == {"right": pytest.approx(0.9667)}
    rows = each(r"^\| (?P<T>\d+) \| (?P<model>\w+)[^|]* \| (?P<mse>[\d.]+) \| (?P<hit>\S+) \| (?P<left>\S+) \|$",
                mse="mse_{model}_{T}", left="left_{model}_{T}")(OUTPUT)
    assert rows == {"mse_rnn_10": 0.0022, "left_rnn_10": 310, "mse_constant_10": 0.1735, "left_constant_10": "-"}
    assert lines("steps", r"^step \d")(OUTPUT) == {"steps": "step 1 loss 2\nstep 2 loss 1"}
    assert text("sample", r"(?s)^--- sample ---\n(.*?)\n--- end")(OUTPUT) == {"sample": "two\nlines"}


def test_a_figure_missing_from_the_output_fails_by_name() -> None:
    with pytest.raises(RunFailed, match="no figure 'rmse'"):
        number("rmse", r"^RMSE ([\d.]+)")(OUTPUT)


# ---- the runner, on small stand-in examples --------------------------------------------------------

FAKE = """\
import argparse, os, pathlib, sys
p = argparse.ArgumentParser()
p.add_argument("--seed", type=int)
p.add_argument("--out", type=pathlib.Path)
p.add_argument("--fail", action="store_true")
p.add_argument("--no-result", action="store_true")
args = p.parse_args()
if args.fail:
    sys.exit("the data is broken")
(args.out / "plot.png").write_bytes(b"png")
print(f"threads {os.environ['OPENBLAS_NUM_THREADS']}, seed {args.seed}, score {0.5 + args.seed / 10:.2f}")
if not args.no_result:
    print(f"RESULT: score={0.5 + args.seed / 10:.4g} (baseline 0.25)")
"""
TEMPLATE = "{{table}}\n\nThe score is {{fake.score:.2f}} at seed 0{{? fake.score > fake.baseline}}.\n"


@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository of one stand-in example with docs/, docs/templates/ and docs/images/."""
    for folder in ("examples", "docs/templates", "docs/images"):
        (tmp_path / folder).mkdir(parents=True)
    (tmp_path / "examples" / "fake.py").write_text(FAKE)
    (tmp_path / "docs" / "templates" / "page.md").write_text(TEMPLATE)
    monkeypatch.setattr(_results, "EXAMPLES", tmp_path / "examples")
    monkeypatch.setattr(_results, "RESULTS", tmp_path / "docs" / "results.json")
    monkeypatch.setattr(_results, "TEMPLATES", tmp_path / "docs" / "templates")
    monkeypatch.setattr(_results, "IMAGES", tmp_path / "docs" / "images")
    figures = (number("score", r"score ([\d.]+)$"), number("threads", r"^threads (\d+)"))
    monkeypatch.setattr(run_all, "RUNS", [
        Run("fake", "fake", pictures={"plot.png": "fake-plot.png"}, figures=figures, row=Row("fake")),
        Run("fake_seed1", "fake", seed=1, figures=figures),
        Run("broken", "fake", ("--fail",)),
    ])
    monkeypatch.chdir(tmp_path)
    return tmp_path


def main(monkeypatch: pytest.MonkeyPatch, *args: str) -> int:
    monkeypatch.setattr(sys, "argv", ["run_all.py", *args])
    try:
        run_all.main()
    except SystemExit as done:
        return int(done.code or 0)
    return 0


def test_a_run_is_recorded_with_what_it_depends_on(sandbox: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert main(monkeypatch, "fake*") == 0
    record = _results.load_records()["fake"]
    assert set(record) >= FIELDS
    assert record["result"] == "RESULT: score=0.5 (baseline 0.25)" and record["value"] == 0.5
    assert record["figures"] == {"score": 0.5, "threads": 1}  # one BLAS thread
    assert _results.load_records()["fake_seed1"]["figures"]["score"] == 0.6
    assert record["command"] == "python examples/fake.py"
    assert _results.load_records()["fake_seed1"]["command"] == "python examples/fake.py --seed 1"
    assert (sandbox / "docs" / "images" / "fake-plot.png").read_bytes() == b"png"
    page = (sandbox / "docs" / "page.md").read_text()
    assert page.startswith("<!-- Generated by examples/run_all.py") and "The score is 0.50 at seed 0.\n" in page
    assert "| fake | score 0.5 | 0.25 |" in page
    assert "rendered" in capsys.readouterr().out


def test_a_failed_run_is_named_and_the_others_still_run(sandbox: Path, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert main(monkeypatch) == 1
    said = capsys.readouterr()
    assert "FAILED: `python examples/fake.py --fail` exited with status 1:\n  the data is broken" in said.out
    assert "failed: broken" in said.err
    assert set(_results.load_records()) == {"fake", "fake_seed1"}


def test_check_compares_a_rerun_with_the_record(sandbox: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert main(monkeypatch, "fake") == 0
    assert main(monkeypatch, "--check", "fake") == 0
    assert "same as docs/results.json" in capsys.readouterr().out
    stored = json.loads(_results.RESULTS.read_text())
    stored["runs"]["fake"]["figures"]["score"] = 0.51
    _results.RESULTS.write_text(json.dumps(stored))
    assert main(monkeypatch, "--check", "fake") == 1
    assert "differs: fake.score: 0.51 in docs/results.json, 0.5 now" in capsys.readouterr().out
    assert json.loads(_results.RESULTS.read_text()) == stored  # --check writes nothing


def test_a_run_without_a_result_line_or_a_figure_fails(sandbox: Path) -> None:
    with pytest.raises(RunFailed, match="the last line printed is not a RESULT line"):
        _results.execute(Run("fake", "fake", ("--no-result",)), sandbox / "out")
    with pytest.raises(RunFailed, match="no figure 'loss'"):
        _results.execute(Run("fake", "fake", figures=(number("loss", r"^loss (\S+)"),)), sandbox / "out")
    with pytest.raises(RunFailed, match="did not write missing.png"):
        _results.execute(Run("fake", "fake", pictures={"missing.png": "x.png"}), sandbox / "out")


def test_a_false_claim_stops_rendering(sandbox: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert main(monkeypatch, "fake") == 0
    (sandbox / "docs" / "templates" / "page.md").write_text(TEMPLATE.replace(">", "<"))
    assert main(monkeypatch, "--render") == 1
    assert "docs/templates/page.md:3: " in capsys.readouterr().err


def test_unknown_run_exits_2_with_one_line(sandbox: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert main(monkeypatch, "nope") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no run named 'nope'; the runs are: fake, fake_seed1, broken" in err
