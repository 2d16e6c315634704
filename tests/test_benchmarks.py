"""The benchmark tools: the numpy floor is exact, verification catches wrong maths, the scripts run.

No timed assertions: the scripts run in --quick mode (or with a couple of rounds) and only
their output's content is checked.
"""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import floor_race  # noqa: E402
import implementations  # noqa: E402
import micro_engine  # noqa: E402
import node_cost  # noqa: E402
import numpy_bptt  # noqa: E402
import report  # noqa: E402
import scan  # noqa: E402
from problem import CELLS, QUICK_CONFIGS, Config, make_problem  # noqa: E402
from timing import summarise  # noqa: E402

CONFIG = Config(7, 3, 4, 5, 6)


def run_script(name, *args, tmp_path):
    done = subprocess.run([sys.executable, str(BENCHMARKS / name), *args], capture_output=True, text=True,
                          cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def floor_loss_and_grads(problem, **options):
    params = {k: v.copy() for k, v in problem.model.numpy_params().items()}
    return numpy_bptt.loss_and_grads(problem.cell, params, problem.x, problem.targets, **options)


def assert_same_grads(got, expected, rtol, atol=0.0):
    assert set(got) == set(expected) == set(numpy_bptt.PARAM_NAMES)
    for name in numpy_bptt.PARAM_NAMES:
        assert got[name].shape == expected[name].shape, name
        np.testing.assert_allclose(got[name], expected[name], rtol=rtol, atol=atol, err_msg=name)


# ---- the floor -----------------------------------------------------------------------------------------

FORMS = pytest.mark.parametrize("fused", [False, True], ids=["projected", "fused"])


@FORMS
@pytest.mark.parametrize("cell", numpy_bptt.CELLS)
def test_numpy_bptt_equals_ours_float64(cell, fused):
    problem = make_problem(cell, CONFIG, np.float64, seed=3)
    loss, grads = floor_loss_and_grads(problem, fused=fused)
    ours = implementations.Ours(problem)
    assert loss == pytest.approx(ours.step(), rel=1e-13)
    assert_same_grads(grads, ours.grads(), rtol=1e-10, atol=1e-13)


@FORMS
@pytest.mark.parametrize("cell", numpy_bptt.CELLS)
def test_numpy_bptt_matches_central_differences(cell, fused):
    """Independent of every engine: the hand derivation against finite differences of its own forward."""
    problem = make_problem(cell, Config(4, 2, 3, 3, 4), np.float64, seed=5)
    params = {k: v.copy() for k, v in problem.model.numpy_params().items()}
    _, grads = numpy_bptt.loss_and_grads(cell, params, problem.x, problem.targets, fused=fused)
    rng = np.random.default_rng(0)
    for name, value in params.items():
        for flat in rng.choice(value.size, size=min(value.size, 6), replace=False):
            index = np.unravel_index(flat, value.shape)
            original = value[index]
            value[index] = original + 1e-6
            plus = numpy_bptt.forward(cell, params, problem.x, problem.targets, fused)[0]
            value[index] = original - 1e-6
            minus = numpy_bptt.forward(cell, params, problem.x, problem.targets, fused)[0]
            value[index] = original
            assert grads[name][index] == pytest.approx((plus - minus) / 2e-6, rel=1e-5, abs=1e-7), (name, index)


@FORMS
@pytest.mark.parametrize("cell", numpy_bptt.CELLS)
def test_numpy_bptt_blocks_of_any_size_give_the_same_gradients(cell, fused):
    """The derivative factors are computed a block of steps at a time; the block size must not matter,
    including blocks that do not divide T, and T = 1."""
    for config in (Config(7, 2, 3, 4, 5), Config(1, 3, 2, 3, 4)):
        problem = make_problem(cell, config, np.float64, seed=2)
        loss, grads = floor_loss_and_grads(problem, fused=fused)
        for block_steps in (1, 2, 3, config.T, 100):
            other_loss, other = floor_loss_and_grads(problem, block_steps=block_steps, fused=fused)
            assert other_loss == loss
            assert_same_grads(other, grads, rtol=1e-13, atol=1e-15)


@FORMS
@pytest.mark.parametrize("cell", numpy_bptt.CELLS)
def test_numpy_bptt_keeps_float32(cell, fused):
    """float32 in, float32 everywhere (no silent float64 temporaries), and close to the float64 result."""
    problem32 = make_problem(cell, CONFIG, np.float32, seed=4)
    problem64 = make_problem(cell, CONFIG, np.float64, seed=4)
    loss32, grads32 = floor_loss_and_grads(problem32, fused=fused)
    loss64, grads64 = floor_loss_and_grads(problem64, fused=fused)
    assert all(g.dtype == np.float32 for g in grads32.values())
    _, saved = numpy_bptt.forward(cell, problem32.model.numpy_params(), problem32.x, problem32.targets, fused)
    assert all(a.dtype == np.float32 for a in saved.values())
    assert loss32 == pytest.approx(loss64, rel=1e-5)
    assert_same_grads(grads32, grads64, rtol=1e-3, atol=1e-5)


@FORMS
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_numpy_bptt_sigmoid_does_not_overflow_into_nan(cell, fused):
    """Huge pre-activations: exp overflows to inf in the sigmoid, which must give 0 (no nan, no warning)."""
    problem = make_problem(cell, CONFIG, np.float64)
    params = {k: v * 1e4 for k, v in problem.model.numpy_params().items()}
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        loss, grads = numpy_bptt.loss_and_grads(cell, params, problem.x, problem.targets, fused=fused)
    assert np.isfinite(loss) and all(np.isfinite(g).all() for g in grads.values())


@FORMS
@pytest.mark.parametrize("cell", numpy_bptt.CELLS)
def test_numpy_bptt_does_not_touch_the_parameters_or_inputs(cell, fused):
    problem = make_problem(cell, CONFIG, np.float64)
    before = {k: v.copy() for k, v in problem.model.numpy_params().items()}
    x = problem.x.copy()
    numpy_bptt.loss_and_grads(cell, problem.model.numpy_params(), problem.x, problem.targets, fused=fused)
    np.testing.assert_array_equal(problem.x, x)
    for name, value in problem.model.numpy_params().items():
        np.testing.assert_array_equal(value, before[name], err_msg=name)


@pytest.mark.parametrize("cell", numpy_bptt.CELLS)
def test_torch_cells_equal_numpy_bptt(cell):
    pytest.importorskip("torch")
    import torch_cell
    problem = make_problem(cell, CONFIG, np.float64, seed=1)
    loss, grads = floor_loss_and_grads(problem)
    for model in (torch_cell.PrimitiveModel, torch_cell.FusedModel):
        impl = model(cell, problem.model.numpy_params(), problem.x, problem.targets)
        assert impl.step() == pytest.approx(loss, rel=1e-12)
        for name, g in impl.grads().items():
            np.testing.assert_allclose(g, grads[name], rtol=1e-9, atol=1e-12, err_msg=f"{model.name} {name}")


@FORMS
def test_saved_bytes_counts_every_saved_array_once(fused):
    problem = make_problem("lstm", CONFIG, np.float64)
    _, saved = numpy_bptt.forward("lstm", problem.model.numpy_params(), problem.x, problem.targets, fused)
    T, B, H, K = CONFIG.T, CONFIG.B, CONFIG.H, CONFIG.K
    # h and c with their initial states, four gates, tanh(c), and the softmax probabilities (in the fused
    # form the states sit beside a copy of the input, which is not counted: it is not an activation)
    expected = (2 * (T + 1) * B * H + T * B * 4 * H + T * B * H + T * B * K) * 8
    assert numpy_bptt.saved_bytes(saved) == expected
    saved["alias"] = saved["hs"][1:]
    with pytest.raises(ValueError, match="share memory"):
        numpy_bptt.saved_bytes(saved)


def test_unknown_cell_is_a_value_error():
    problem = make_problem("rnn", CONFIG, np.float64)
    with pytest.raises(ValueError, match="cell must be one of"):
        numpy_bptt.loss_and_grads("elman", problem.model.numpy_params(), problem.x, problem.targets)


# ---- the minimal engine ----------------------------------------------------------------------------------

@pytest.mark.parametrize("cell", numpy_bptt.CELLS)
def test_micro_engine_equals_the_floor_and_records_our_graph(cell):
    problem = make_problem(cell, CONFIG, np.float64, seed=6)
    loss, grads = floor_loss_and_grads(problem)
    micro = micro_engine.MicroEngine(cell, problem.model.numpy_params(), problem.x, problem.targets)
    assert micro.step() == pytest.approx(loss, rel=1e-13)
    assert_same_grads(micro.grads(), grads, rtol=1e-10, atol=1e-13)
    assert micro_engine.nodes_recorded() == 0  # backward emptied the tape
    counts = node_cost.count_nodes(cell, CONFIG, np.float64)
    assert counts["micro engine"] == counts["ours"]
    assert node_cost.nodes_per_step(cell, CONFIG, np.float64) == {
        name: {"rnn": 4, "lstm": 16, "gru": 20}[cell] for name in node_cost.ENGINES}


def test_micro_engine_gradients_do_not_build_up_across_steps():
    problem = make_problem("gru", CONFIG, np.float64)
    micro = micro_engine.MicroEngine("gru", problem.model.numpy_params(), problem.x, problem.targets)
    micro.step()
    first = {k: v.copy() for k, v in micro.grads().items()}
    micro.forward()  # abandoned: its tape must not leak into the next step
    micro.step()
    assert_same_grads(micro.grads(), first, rtol=0, atol=0)


# ---- verification, timing summaries, goals ---------------------------------------------------------------

def test_verification_rejects_a_wrong_gradient():
    problem = make_problem("gru", CONFIG, np.float64)
    reference, ours = implementations.NumpyFloor(problem), implementations.Ours(problem)
    assert implementations.verify([reference, implementations.NumpyFloor(problem, fused=True)], np.float64)[
        "numpy fused"] < 1e-12
    assert implementations.verify([reference, ours], np.float64)["ours"] < 1e-12

    class OffByATinyBit(implementations.Ours):
        def grads(self):
            grads = dict(super().grads())
            grads["weight_hh"] = grads["weight_hh"] * (1 + 1e-8)
            return grads

    with pytest.raises(implementations.VerificationError, match="weight_hh"):
        implementations.verify([reference, OffByATinyBit(problem)], np.float64)


def test_unknown_implementation_is_a_value_error():
    with pytest.raises(ValueError, match="unknown implementation 'jax'"):
        implementations.make_implementations(make_problem("rnn", CONFIG, np.float64), ["jax"])


def test_config_parsing():
    assert Config.parse("100,1,16,32,16") == Config(100, 1, 16, 32, 16)
    assert Config.parse("(5, 2, 3, 4, 5)") == Config(5, 2, 3, 4, 5)
    for bad in ("1,2,3", "1,2,3,4,0", "a,b,c,d,e"):
        with pytest.raises(Exception, match="five positive integers"):
            Config.parse(bad)


def fake_results(cell, config, times, dtype="float64"):
    """Results as the round-robin would give them: per-round seconds of each implementation."""
    return summarise(cell, config, dtype, {name: list(t) for name, t in times.items()},
                     dict.fromkeys(times, 0.0))


def test_summary_ratios_are_of_medians_and_paired_per_round():
    [floor, ours] = fake_results("lstm", CONFIG, {"numpy": [1.0, 2.0, 10.0], "ours": [3.0, 4.0, 10.0]})
    assert floor.ratio_to_numpy == 1.0
    assert ours.median_s == 4.0 and ours.ratio_to_numpy == 2.0
    assert ours.paired_ratio == 2.0  # per round: 3, 2, 1
    assert ours.samples_s == [3.0, 4.0, 10.0]


def test_goals_against_the_floor_and_against_torch_fused():
    small, medium = report.SMALL, report.MEDIUM
    results = (fake_results("lstm", small, {"numpy": [1.0] * 3, "ours": [2.9] * 3, "torch autograd": [5.0] * 3,
                                            "torch.nn fused": [2.9] * 3})
               + fake_results("gru", medium, {"numpy": [1.0] * 3, "ours": [1.25] * 3})
               + fake_results("gru", medium, {"numpy": [1.0] * 3, "ours": [1.0] * 3}, dtype="float32"))
    rows = {(row["cell"], row["config"], row["against"]): row for row in report.evaluate_goals(results)}
    assert set(rows) == {("lstm", str(small), "floor"), ("gru", str(medium), "floor"),
                         ("lstm", str(small), "torch.nn fused")}  # float32 and unmeasured goals left out
    assert rows[("lstm", str(small), "floor")]["met"] and rows[("lstm", str(small), "floor")]["torch_autograd"] == 5.0
    assert not rows[("gru", str(medium), "floor")]["met"]
    assert rows[("gru", str(medium), "floor")]["torch_fused"] is None
    fused = rows[("lstm", str(small), "torch.nn fused")]
    assert fused["ours"] == 1.0 and not fused["met"]  # level is not faster
    text = report.markdown(results, list(rows.values()))
    assert "| LSTM | (100, 1, 16, 32, 16) | 1e+03 (projected) | 2.9e+03 | **2.90** |" in text
    assert "ours / torch.nn fused < 1 | 1.00 |" in text


# ---- the scripts, quick --------------------------------------------------------------------------------

def test_bench_rnn_quick_writes_a_verified_table(tmp_path):
    out, md = tmp_path / "quick.json", tmp_path / "quick.md"
    stdout = run_script("bench_rnn.py", "--quick", "--dtype", "float64", "float32", "--impls", "ours", "micro",
                        "--json", str(out), "--markdown", str(md), tmp_path=tmp_path)
    assert "pinned to 1" in stdout and "median ms" in stdout and "load average" in stdout
    record = json.loads(out.read_text())
    results = record["results"]
    keys = {(r["cell"], r["dtype"], r["T"]) for r in results}
    assert keys == {(c, d, cfg.T) for c in CELLS for d in ("float64", "float32") for cfg in QUICK_CONFIGS}
    assert {r["impl"] for r in results} == {"numpy", "numpy fused", "ours", "micro engine"}
    for r in results:
        key = (r["cell"], r["dtype"], r["T"], r["B"])
        same = [x for x in results if (x["cell"], x["dtype"], x["T"], x["B"]) == key]
        floor = next(x for x in same if x["impl"] == r["floor"])
        assert floor["median_s"] == min(x["median_s"] for x in same if x["impl"] in implementations.FLOORS)
        assert r["ratio_to_numpy"] == pytest.approx(r["median_s"] / floor["median_s"])
        assert r["q1_s"] <= r["median_s"] <= r["q3_s"] and r["reps"] == 3 == len(r["samples_s"])
        assert r["max_error"] <= implementations.TOLERANCE[r["dtype"]]
    assert record["machine"]["numpy"] == np.__version__
    assert len(record["machine"]["load_average"]) == 3 and len(record["load_average_at_end"]) == 3
    assert md.read_text().startswith("float64:") and "| RNN | (4, 1, 2, 3, 2) |" in md.read_text()


def test_bench_rnn_node_cost(tmp_path):
    out = tmp_path / "nodes.json"
    stdout = run_script("bench_rnn.py", "--quick", "--cells", "lstm", "--impls", "ours", "--node-cost",
                        "--json", str(out), tmp_path=tmp_path)
    assert "Time per graph node: LSTM (6, 2, 3, 4, 5) float64" in stdout
    [row] = json.loads(out.read_text())["node_cost"]
    assert set(row["engines"]) == {"ours", "micro engine"}
    for engine in row["engines"].values():
        assert engine["nodes_per_step"] == 16 and engine["nodes"] > 6 * 16
        assert engine["us_per_node"]["forward"] > 0 and engine["max_error"] < 1e-10


def test_bench_rnn_profile_and_scan(tmp_path):
    stdout = run_script("bench_rnn.py", "--quick", "--profile", "--cells", "lstm", "--profile-top", "5",
                        tmp_path=tmp_path)
    assert "cProfile of ours: LSTM" in stdout and "tottime" in stdout
    stdout = run_script("bench_rnn.py", "--quick", "--scan", str(tmp_path / "perf"), "--impls", "ours",
                        "--json", str(tmp_path / "scan.json"), tmp_path=tmp_path)
    assert (tmp_path / "perf-T.png").stat().st_size > 0 and (tmp_path / "perf-H.png").stat().st_size > 0
    scans = json.loads((tmp_path / "scan.json").read_text())["scans"]
    assert {r["T"] for r in scans["T"]} == {c.T for c in scan.scan_configs(quick=True)["T"]}
    assert {r["impl"] for r in scans["H"]} == {"numpy", "numpy fused", "ours"}


def test_bench_rnn_baseline_compares_ours(tmp_path):
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    args = ["--quick", "--cells", "rnn", "--impls", "ours"]
    run_script("bench_rnn.py", *args, "--json", str(first), tmp_path=tmp_path)
    stdout = run_script("bench_rnn.py", *args, "--json", str(second), "--baseline", str(first), tmp_path=tmp_path)
    assert "| ... | RNN (6, 2, 3, 4, 5) float64 |" in stdout


def test_floor_race_verifies_and_times_every_contender(tmp_path):
    out = tmp_path / "race.json"
    stdout = run_script("floor_race.py", "--configs", "5,2,3,4,3", "--dtype", "float64", "float32", "--reps", "2",
                        "--json", str(out), tmp_path=tmp_path)
    results = json.loads(out.read_text())["results"]
    assert {(r["cell"], r["dtype"], r["impl"]) for r in results} == {
        (cell, dtype, impl) for cell in CELLS for dtype in ("float64", "float32")
        for impl in implementations.FLOORS + floor_race.CONTENDERS}
    assert all(r["max_error"] <= implementations.TOLERANCE[r["dtype"]] for r in results)
    assert "previous floor" in stdout and "paired" in stdout


def test_bench_memory_quick(tmp_path):
    out = tmp_path / "memory.json"
    stdout = run_script("bench_memory.py", "--quick", "--cells", "lstm", "gru", "--json", str(out), tmp_path=tmp_path)
    assert "Truncated BPTT" in stdout
    record = json.loads(out.read_text())
    for row in record["step"]:
        assert row["saved_bytes"] == sum(row["saved_by_name"].values()) > 0
        assert row["ours_peak_bytes"] > 0 and row["numpy_peak_bytes"] > 0
    steps = [row["steps"] for row in record["truncated_bptt"]]
    assert steps == [20, 200, 2000]


def test_packed_step_runs_and_counts_nodes(tmp_path):
    out = run_script("packed_step.py", "--reps", "1", tmp_path=tmp_path)
    lines = out.splitlines()
    assert lines[1].startswith("plain") and "packed, every length 32" in lines[2] and "nodes" in lines[3]
