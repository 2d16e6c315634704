"""The replay page in a real browser: headless Chromium (Debian's ``chromium``) driven over the DevTools protocol.

A user's clicks and key presses move through the backward pass; after each, the page must show
the visit it is at: the counter, the time step, the highlighted box, and each weight's tally of
contributions and the norm of their running sum. Nothing may go to the console as an error.
``make test`` installs Chromium when run as root (as it does Graphviz); elsewhere these tests are
skipped with a note saying how to install it, except under CI, where a missing browser fails.
"""
from __future__ import annotations

import html
import os
import shutil

import numpy as np
import pytest
from chromium import Chromium, Page, find
from test_viz_replay import page_data

import micrograd_seq as mg

pytestmark = pytest.mark.skipif(shutil.which("dot") is None, reason="the Graphviz 'dot' program is not installed")


@pytest.fixture(scope="module")
def browser():
    if find() is None:
        message = ("no Chromium to run the replay page in: install it (Debian: apt-get install chromium; "
                   "`make test` does so when run as root)")
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    with Chromium.launch() as chromium:
        yield chromium


def lstm_replay(tmp_path, steps, **options):
    """The replay page of an LSTM over ``steps`` steps with a loss on its last output; (page, data, layer)."""
    mg.manual_seed(0)
    lstm = mg.nn.LSTM(3, 4)
    output, _ = lstm(mg.tensor(np.random.default_rng(0).standard_normal((steps, 1, 3)), name="x"))
    written = mg.viz.replay((output[-1] ** 2).mean().named("loss"), tmp_path / f"lstm{steps}.html", **options)
    return written, page_data(written.html), lstm


def js_exponential(x) -> str:
    """``x.toExponential(3)`` as JavaScript writes it: 1.286e-1, 2.000e+0."""
    if x is None:
        return "none"
    if isinstance(x, str):
        return x
    mantissa, exponent = f"{x:.3e}".split("e")
    return f"{mantissa}e{int(exponent):+d}"


def assert_shows_visit(page: Page, data: dict, pos: int) -> None:
    """Everything the page shows matches visit ``pos`` (0: before the first)."""
    visits, total = data["visits"], len(data["visits"])
    assert page.text("#mg-count") == f"{pos} / {total}"
    now = visits[pos - 1] if pos else None
    assert page.text("#mg-time") == ("ready" if now is None else now["time"] or "–")
    highlighted = page.evaluate("Array.from(document.querySelectorAll('#mg-graph .mg-now:not(.cluster)'), e => e.id)")
    assert highlighted == ([] if now is None else [now["box"] if now["box"] in page_ids(page) else "a_" + now["box"]])
    if now is not None:
        assert page.text("#mg-op") == now["op"]
        assert page.text("#mg-norm") == js_exponential(now["norm"])
    rows = page.evaluate("""Array.from(document.querySelectorAll('#mg-params .param'), row => [
        row.querySelector('b').textContent, row.querySelector('.tally').textContent,
        row.querySelector('.sum span').textContent, row.classList.contains('complete')])""")
    expected = []
    for p in data["params"]:
        got = sum(1 for k in p["from"] if k < pos)
        expected.append([p["name"], f"{got} / {len(p['from'])}", js_exponential(p["sums"][got - 1]) if got else "0",
                         p["visit"] < pos])
    assert rows == expected


def page_ids(page: Page) -> set[str]:
    return set(page.evaluate("Array.from(document.querySelectorAll('#mg-graph g.node'), e => e.id)"))


def test_three_steps_driven_by_clicks_and_keys(browser, tmp_path):
    written, data, _ = lstm_replay(tmp_path, 3)
    total = len(data["visits"])
    page = browser.open(written.path.as_uri())
    assert_shows_visit(page, data, 0)
    for pos in (1, 2, 3):
        page.click("#mg-forward")
        assert_shows_visit(page, data, pos)
    page.press("ArrowRight", key_code=39)
    assert_shows_visit(page, data, 4)
    page.click("#mg-back")
    page.press("ArrowLeft", key_code=37)
    assert_shows_visit(page, data, 2)

    # Jump to a visit: the chip of weight_hh_l0's contribution from t=1, then the middle of the progress bar.
    weight_hh = next(p for p in data["params"] if p["name"] == "weight_hh_l0")
    (from_t1,) = [k for k in weight_hh["from"] if data["visits"][k]["time"] == "t=1"]
    row = [p["name"] for p in data["params"]].index("weight_hh_l0")
    chip = [data["visits"][k]["time"] for k in weight_hh["from"]].index("t=1")
    page.click(f"#mg-params .param:nth-child({row + 1}) .chips .chip:nth-child({chip + 1})")
    assert_shows_visit(page, data, from_t1 + 1)
    assert page.evaluate(f"document.querySelector('#mg-params .param:nth-child({row + 1})')"
                         ".classList.contains('receiving')"), "the weight's row shows a term arriving"
    page.click("#mg-progress", x_fraction=0.5)
    middle = int(page.text("#mg-count").split(" / ")[0])
    assert abs(middle - total / 2) <= 1
    assert_shows_visit(page, data, middle)
    page.evaluate("location.hash = '#visit=7'")
    page.wait_until("document.getElementById('mg-count').textContent.startsWith('7 /')")
    assert_shows_visit(page, data, 7)

    # Play to the end at the fastest speed: every weight's running sum ends at its full gradient.
    page.evaluate("const s = document.getElementById('mg-speed'); s.value = 60; s.dispatchEvent(new Event('input'))")
    page.click("#mg-play")
    page.wait_until(f"document.getElementById('mg-count').textContent === '{total} / {total}'", timeout=30)
    assert_shows_visit(page, data, total)
    assert page.text("#mg-play").strip() == "Play", "playing stops at the end"
    page.press("Home", key_code=36)
    assert_shows_visit(page, data, 0)
    assert page.console_errors() == []


def test_sixty_steps_drawn_as_a_strip(browser, tmp_path):
    written, data, lstm = lstm_replay(tmp_path, 60, collapse="t", grads=True)
    total = len(data["visits"])
    page = browser.open(f"{written.path.as_uri()}#visit=1")
    assert_shows_visit(page, data, 1)
    assert page.evaluate("document.querySelectorAll('#mg-graph g.mg-cell').length") == 60, "one cell per step"
    weight_hh = next(p for p in data["params"] if p["name"] == "weight_hh_l0")
    assert len(weight_hh["from"]) == 60
    for k in (weight_hh["from"][0], weight_hh["from"][29], weight_hh["from"][-1], weight_hh["visit"]):
        page.evaluate(f"location.hash = '#visit={k + 1}'")
        page.wait_until(f"document.getElementById('mg-count').textContent.startsWith('{k + 1} /')")
        assert_shows_visit(page, data, k + 1)
        if data["visits"][k]["time"] is not None:
            assert page.evaluate("document.querySelector('#mg-graph .mg-now').id") == \
                f"a_s_{data['visits'][k]['time']}", "the step's cell in the strip is highlighted"
    assert weight_hh["sums"][-1] == pytest.approx(np.linalg.norm(lstm.weight_hh_l0.grad), rel=1e-3)

    # Play a little, pause, and the page shows wherever it stopped; End jumps to the last visit.
    page.click("#mg-first")
    page.click("#mg-play")
    page.wait_until("parseInt(document.getElementById('mg-count').textContent) >= 5")
    page.click("#mg-play")
    stopped = int(page.text("#mg-count").split(" / ")[0])
    assert 5 <= stopped < total
    assert_shows_visit(page, data, stopped)
    page.press("End", key_code=35)
    assert_shows_visit(page, data, total)
    assert page.console_errors() == []


def test_fit_shows_the_whole_graph_in_the_pane(browser, tmp_path):
    written, _, _ = lstm_replay(tmp_path, 3)
    page = browser.open(written.path.as_uri(), width=1400, height=900)
    for button in ("#mg-in", "#mg-in", "#mg-fit"):
        page.click(button)
    width, height, room_w, room_h = page.evaluate("""(() => {
        const pane = document.getElementById('mg-graph'), style = getComputedStyle(pane);
        const box = pane.querySelector('svg').getBoundingClientRect();
        return [box.width, box.height,
                pane.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight),
                pane.clientHeight - parseFloat(style.paddingTop) - parseFloat(style.paddingBottom)];
    })()""")
    assert width <= room_w + 0.5 and height <= room_h + 0.5, "fit: the whole picture in the pane"
    assert min(room_w - width, room_h - height) < 1, "and as large as the pane allows"
    assert page.evaluate("(p => p.scrollWidth <= p.clientWidth)(document.getElementById('mg-graph'))"), "no scrollbar"
    assert page.console_errors() == []


def test_the_page_runs_inline_in_a_notebook_frame(browser, tmp_path):
    """What Jupyter shows for ``page`` on a line of its own: the page in a sandboxed iframe, working."""
    written, data, _ = lstm_replay(tmp_path, 3)
    notebook = tmp_path / "notebook.html"
    notebook.write_text(f"<!doctype html><html><body><p>Out[1]:</p>{written._repr_html_()}</body></html>",
                        encoding="utf-8")
    page = browser.open(notebook.as_uri())
    page.wait_until("document.querySelector('iframe').offsetHeight > 500")
    (frame,) = page.frames()
    total = len(data["visits"])
    frame.wait_until("document.getElementById('mg-count') !== null")
    assert frame.text("#mg-count") == f"0 / {total}"
    frame.evaluate("document.getElementById('mg-last').click()")
    assert frame.text("#mg-count") == f"{total} / {total}"
    assert page.console_errors() == frame.console_errors() == []


def test_console_errors_are_seen_in_pages_and_frames(browser, tmp_path):
    """The check above can fail: errors logged or thrown, in a page or in its sandboxed frame, are reported."""
    script = "<script>console.error('logged on purpose'); null.thrown_on_purpose;</script>"
    inner = html.escape(f"<!doctype html><p>inner</p>{script}", quote=True)
    outer = tmp_path / "errors.html"
    outer.write_text(f'<!doctype html><p>outer</p>{script}<iframe srcdoc="{inner}" sandbox="allow-scripts"></iframe>',
                     encoding="utf-8")
    page = browser.open(outer.as_uri())
    page.wait_until("document.querySelector('iframe') !== null")
    (frame,) = page.frames()
    for errors in (page.console_errors(), frame.console_errors()):
        assert any("logged on purpose" in e for e in errors) and any("thrown_on_purpose" in e for e in errors)
