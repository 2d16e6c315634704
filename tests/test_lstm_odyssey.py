"""examples/lstm_odyssey.py: Greff et al.'s LSTM variants, as one RecurrentCell, are what they claim to be."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import micrograd_seq as mg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))
odyssey = pytest.importorskip("lstm_odyssey", reason="the example needs its optional packages")


def test_vanilla_is_the_zoos_peephole_lstm(f64):
    """The same weights in the two layouts (Greff: gates z, i, f, o and one bias; the zoo: i, f, g, o
    and torch's two biases) give the same step."""
    mg.manual_seed(0)
    greff, zoo = odyssey.GreffLSTMCell(3, 4), mg.nn.zoo.PeepholeLSTMCell(3, 4)
    z, i, f, o = (slice(k * 4, (k + 1) * 4) for k in range(4))
    for name in ("weight_ih", "weight_hh"):
        w = getattr(greff, name).data
        getattr(zoo, name).data[...] = np.concatenate([w[i], w[f], w[z], w[o]])
    b = greff.bias.data
    zoo.bias_ih.data[...], zoo.bias_hh.data[...] = np.concatenate([b[i], b[f], b[z], b[o]]), 0.0
    for gate in "ifo":
        getattr(zoo, f"peephole_{gate}").data[...] = getattr(greff, f"peephole_{gate}").data
    rng = np.random.default_rng(0)
    x, h, c = rng.standard_normal((2, 3)), rng.standard_normal((2, 4)), rng.standard_normal((2, 4))
    for ours, theirs in zip(greff(x, (h, c)), zoo(x, (h, c)), strict=True):
        np.testing.assert_allclose(ours.data, theirs.data, rtol=1e-12)


@pytest.mark.parametrize("variant", odyssey.VARIANTS)
def test_every_variant_gradchecks_in_a_layer(f64, variant):
    mg.manual_seed(1)
    layer = mg.nn.Recurrent(odyssey.GreffLSTMCell, 2, 2, variant=variant)
    x = mg.tensor(np.random.default_rng(1).standard_normal((3, 1, 2)), requires_grad=True)
    assert mg.gradcheck(lambda x, *params: layer(x), x, *layer.parameters())


def test_each_variant_drops_what_it_says():
    params = {v: {n: p.shape for n, p in odyssey.GreffLSTMCell(3, 4, variant=v).named_parameters()}
              for v in odyssey.VARIANTS}
    vanilla = params["vanilla"]
    assert vanilla == {"weight_ih": (16, 3), "weight_hh": (16, 4), "bias": (16,), "peephole_i": (4,),
                       "peephole_f": (4,), "peephole_o": (4,)}
    for variant, gone in (("NIG", "peephole_i"), ("NFG", "peephole_f"), ("NOG", "peephole_o"), ("CIFG", "peephole_f")):
        assert params[variant] == {"weight_ih": (12, 3), "weight_hh": (12, 4), "bias": (12,),
                                   **{n: (4,) for n in ("peephole_i", "peephole_f", "peephole_o") if n != gone}}
    assert params["NP"] == {"weight_ih": (16, 3), "weight_hh": (16, 4), "bias": (16,)}
    assert params["NIAF"] == params["NOAF"] == vanilla
    assert params["FGR"] == {**vanilla, "weight_gates": (12, 12)}
    assert odyssey.GreffLSTMCell(3, 4, variant="FGR").state_names == ("h", "c", "i", "f", "o")
    with pytest.raises(ValueError, match="variant must be one of"):
        odyssey.GreffLSTMCell(3, 4, variant="GRU")


def test_cifg_couples_the_gates_and_noaf_leaves_the_cell_unsquashed(f64):
    mg.manual_seed(2)
    rng = np.random.default_rng(2)
    x, h, c = rng.standard_normal((2, 3)), rng.standard_normal((2, 4)), rng.standard_normal((2, 4))
    cifg = odyssey.GreffLSTMCell(3, 4, variant="CIFG")
    a = dict(zip(cifg.gates, np.split(x @ cifg.weight_ih.data.T + h @ cifg.weight_hh.data.T + cifg.bias.data, 3, -1),
                 strict=True))
    i = 1 / (1 + np.exp(-(a["i"] + cifg.peephole_i.data * c)))
    np.testing.assert_allclose(cifg(x, (h, c))[1].data, np.tanh(a["z"]) * i + c * (1 - i), rtol=1e-12)
    noaf = odyssey.GreffLSTMCell(3, 4, variant="NOAF")
    h_new, c_new = noaf(x, (h, c))
    o = 1 / (1 + np.exp(-(np.split(x @ noaf.weight_ih.data.T + h @ noaf.weight_hh.data.T + noaf.bias.data, 4, -1)[3]
                          + noaf.peephole_o.data * c_new.data)))
    np.testing.assert_allclose(h_new.data, c_new.data * o, rtol=1e-12)


def test_replot_redraws_what_the_run_printed(tmp_path):
    """--replot: the table, plot and RESULT line of a finished run, from the lstm_odyssey.json it wrote, no training."""
    def run(*args: str) -> list[str]:
        command = [sys.executable, str(Path(odyssey.__file__)), *args]
        done = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip().splitlines()

    trained = run("--quick", "--out", str(tmp_path / "run"))
    redrawn = run("--replot", str(tmp_path / "run" / "lstm_odyssey.json"), "--out", str(tmp_path / "replot"))
    table = (tmp_path / "replot" / "lstm_odyssey.md").read_text(encoding="utf-8")
    assert table == (tmp_path / "run" / "lstm_odyssey.md").read_text(encoding="utf-8")
    assert [row.split(" | ")[0].strip("| ") for row in table.splitlines()[2:]] == ["vanilla", "NFG", "FGR"]
    assert redrawn[-1] == trained[-1] and trained[-1].startswith("RESULT: adding_vanilla=")
    assert (tmp_path / "replot" / "lstm_odyssey.png").stat().st_size > 0
