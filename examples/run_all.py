"""Run every example's full run and publish what it measured: docs/results.json, the pictures and the pages.

    python examples/run_all.py                   # every run below, one after another (make results)
    python examples/run_all.py sentiment         # some runs: names, or patterns such as 'forecast*'
    python examples/run_all.py --check digits    # rerun, compare with docs/results.json, write nothing
    python examples/run_all.py --render          # only render the pages from docs/results.json again
    python examples/run_all.py --list            # the runs and their commands

Each run is an example's documented command, with one BLAS thread and a fresh output folder. Its
record in docs/results.json holds the RESULT line, the figures the pages quote, wall and CPU time, and
what the numbers depend on (commit, Python, numpy and its BLAS, the data libraries, the date). The
pages that quote measured figures are rendered from templates in docs/templates/ (the syntax is in
examples/_results.py), so their tables and prose cannot drift from the record.

To publish a new example: add a Run to RUNS (its name, script, the pictures the pages show, the figures
they quote and its row in the table), run `python examples/run_all.py NAME`, and quote its figures in a
template as {{NAME.value}} or {{NAME.figure:.2f}}.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from _results import (
    RenderError,
    Row,
    Run,
    RunFailed,
    compare,
    duration,
    each,
    execute,
    lines,
    load_records,
    number,
    percent,
    publish_pictures,
    render_pages,
    save_record,
    select,
    text,
    write_atomically,
)

FORECAST = (number("persistence", r"^held-out RMSE +persistence: ([\d.]+)"),
            number("ar", r"^held-out RMSE +linear AR\(\d+\): ([\d.]+)"),
            number("ar_order", r"^held-out RMSE +linear AR\((\d+)\)"),
            number("network", r"^held-out RMSE +(?:GRU|LSTM)[^:]*: ([\d.]+)"),
            number("held_out", r"^.*, (\d+) held-out forecasts$"))

SENTIMENT = (each(r"^epoch (?P<epoch>\d+): training loss (?P<loss>[\d.]+), train accuracy (?P<train>[\d.]+%), "
                  r"validation (?P<valid>[\d.]+%)",
                  loss="loss_{epoch}", train="train_accuracy_{epoch}", valid="valid_accuracy_{epoch}"),
             number("epochs", r"(?s).*^epoch (\d+): "),
             number("final_loss", r"(?s).*^epoch \d+: training loss ([\d.]+)"),
             number("best_epoch", r"^kept epoch (\d+), "),
             number("best_epoch_loss", r"^kept epoch \d+, .*\(training loss ([\d.]+)\)"))

# Every seed's result (adding_vanilla_0, chars_nfg_2, ...), the table, and its columns per variant
# (median_adding_cifg, mean_chars_noaf, sd_chars_noaf, ...), as the example prints them (four digits).
ODYSSEY = (each(r"^  (?P<task>adding|chars) +(?P<variant>\w+) +seed (?P<seed>\d+): (?P<value>\S+) \(",
                value="{task}_{variant}_{seed}"),
           lines("table", r"^\|"),
           each(r"^\| (?P<variant>\w+) \| (?P<adding_mean>[^ |]+) ± (?P<adding_sd>[^ |]+) \| "
                r"(?P<adding_median>[^ |]+) \|[^|]*\| (?P<chars_mean>[^ |]+) ± (?P<chars_sd>[^ |]+) \| "
                r"(?P<chars_median>[^ |]+) \|",
                adding_mean="mean_adding_{variant}", adding_sd="sd_adding_{variant}",
                adding_median="median_adding_{variant}", chars_mean="mean_chars_{variant}",
                chars_sd="sd_chars_{variant}", chars_median="median_chars_{variant}"),
           each(r"^baseline (?P<task>\w+) \([^)]*\): (?P<value>\S+)$", value="baseline_{task}"),
           number("runs", r"^(\d+) runs: "), number("seeds", r"^\d+ runs: .* x (\d+) seeds, "),
           number("workers", r"^\d+ runs: .*, (\d+) at a time$"))


def mse(x: float) -> str:
    """A test MSE as the table prints it (four decimals), or "below 0.0001" where that shows 0.0000."""
    return f"{x:.4f}" if x >= 0.00005 else "below 0.0001"


def beats(r) -> str:
    """Whether a forecast beats the better baseline, and by how much."""
    margin = r.network / r.baseline - 1
    return f"yes, by {percent(-margin, 0)}" if margin < 0 else f"no: loses to the better baseline by {percent(margin)}"


RUNS = [
    Run("hello", "hello", pictures={"hello_unrolled.png": "examples-hello.png"},
        figures=(lines("first_steps", r"^step +(1|5|10) "), lines("last_step", r"^step +60 "),
                 text("final", r"^(final: .*)$"),
                 each(r"(?P<norm>\d\.\de[-+]\d+) \(t=(?P<t>\d+)\)", norm="grad_t{t}")),
        row=Row("[hello](#hello-the-first-rnn)", lambda r: f'{percent(r.value, 0)} of "ello" correct',
                lambda r: f'{percent(r.baseline, 0)} (always "l")', "100 %",
                lambda r: "yes" if r.value == 1 else "no")),
    Run("char_lm", "char_lm", pictures={"char_lm.png": "examples-char_lm.png"},
        figures=(number("characters", r"^([\d,]+) characters, \d+ distinct"),
                 number("distinct", r"^[\d,]+ characters, (\d+) distinct"),
                 number("read", r"^trained \d+ steps \(([\d,]+) characters read"),
                 number("passes", r"characters read, ([\d.]+) passes"),
                 text("sample_t05", r"(?s)^--- temperature 0\.5 ---\n(.*?)\n+--- temperature 0\.8 ---"),
                 text("sample_t08", r"(?s)^--- temperature 0\.8 ---\n(.*?)\n+--- temperature 1\.0 ---"),
                 text("sample_t10", r"(?s)^--- temperature 1\.0 ---\n(.*?)\n+wrote .*char_lm\.png$")),
        row=Row("[char_lm](#char_lm-a-character-level-lstm-language-model)", lambda r: f"{r.value:.3f} bits/char",
                lambda r: f"{r.baseline:.3f} (unigram)", "well under the unigram",
                lambda r: f"yes, {percent(r.value / r.baseline, 0)} of it" if r.value < r.baseline else "no")),
    Run("forecast", "forecast", pictures={"forecast_sunspots.png": "examples-forecast-sunspots.png"},
        figures=FORECAST,
        row=Row("[forecast](#forecast-sunspots-and-stock-prices) sunspots", lambda r: f"RMSE {r.network:.2f}",
                lambda r: f"{r.ar:.2f} (AR({r.ar_order})), {r.persistence:.2f} (persistence)", "beat both", beats)),
    Run("forecast_goog", "forecast", ("--series", "goog"), pictures={"forecast_goog.png": "examples-forecast-goog.png"},
        figures=FORECAST,
        row=Row("[forecast](#forecast-sunspots-and-stock-prices) `--series goog`",
                lambda r: f"RMSE {r.network:.2f} USD",
                lambda r: f"{r.persistence:.2f} (persistence), {r.ar:.2f} (AR({r.ar_order}))",
                "say what happens", beats)),
    # How much the sunspot result depends on the seed, the ensemble and the window (prose, no rows).
    *(Run(f"forecast_seed{seed}", "forecast", seed=seed, figures=FORECAST) for seed in (1, 2)),
    *(Run(f"forecast_single_seed{seed}", "forecast", ("--ensemble", "1"), seed=seed, figures=FORECAST)
      for seed in range(5)),
    Run("forecast_window24", "forecast", ("--window", "24"), figures=FORECAST),
    Run("digits", "digits", pictures={"digits.png": "examples-digits.png"},
        figures=(each(r"^ *(?P<cell>RNN|LSTM|GRU): test accuracy (?P<accuracy>[\d.]+%)", accuracy="{cell}"),
                 number("test_digits", r"^\d+ training and (\d+) test digits")),
        row=Row("[digits](#digits-sequence-classification-row-by-row)",
                lambda r: f"{percent(r.lstm)} LSTM, {percent(r.gru)} GRU ({percent(r.rnn)} RNN)",
                lambda r: f"{percent(r.baseline)} (majority class)", "at least 95 % for LSTM and GRU",
                lambda r: "yes" if min(r.lstm, r.gru) >= 0.95 else "no")),
    Run("sentiment", "sentiment", pictures={"sentiment.png": "examples-sentiment.png"},
        figures=(*SENTIMENT, number("tweets", r"^(\d+) tweets, \d+ with"), number("kept", r"^\d+ tweets, (\d+) with"),
                 number("positive", r"^\d+ tweets, .*\(([\d.]+%) positive\)"),
                 number("train", r"; (\d+) train, "), number("test", r", (\d+) test; "),
                 number("vocabulary", r"; vocabulary (\d+)"),
                 each(r"^ +P\(positive \| '(?P<text>[^']+)'\) = (?P<p>[\d.]+)", p="p_{text}")),
        row=Row("[sentiment](#sentiment-human-rated-tweets)", lambda r: f"{percent(r.value)} test accuracy",
                lambda r: f"{percent(r.baseline)} (majority class)", "above the baseline",
                lambda r: "yes" if r.value > r.baseline else "no")),
    # Early stopping (the default), every epoch, and a smaller model, at seeds 0 to 4.
    *(Run(f"sentiment_seed{seed}", "sentiment", seed=seed, figures=SENTIMENT) for seed in range(1, 5)),
    *(Run(f"sentiment_every_epoch_seed{seed}", "sentiment", ("--patience", "12"), seed=seed, figures=SENTIMENT)
      for seed in range(5)),
    *(Run(f"sentiment_small_seed{seed}", "sentiment", ("--embed", "16", "--hidden", "16"), seed=seed,
          figures=SENTIMENT) for seed in range(5)),
    Run("adding_problem", "adding_problem",
        pictures={"adding_problem.png": "examples-adding_problem.png",
                  "adding_problem_gradients.png": "examples-adding_problem_gradients.png"},
        figures=(each(r"^\| (?P<T>\d+) \| (?P<model>\w+)[^|]* \| (?P<mse>[\d.]+) \| (?P<hit>[\d.]+%) \| "
                      r"(?P<left>\S+) \| (?P<seconds>\d+) s \|$",
                      mse="mse_{model}_{T}", hit="hit_{model}_{T}", left="left_{model}_{T}",
                      seconds="seconds_{model}_{T}"),
                 each(r"^\|dL/dh_t\| (?P<cell>\w+) (?P<when>before|after) training: (?P<last>\S+) at t=\d+, "
                      r"(?P<previous>\S+) at t=\d+, (?P<first>\S+) at t=(?P<first_t>\d+)",
                      last="grad_{cell}_{when}_last", previous="grad_{cell}_{when}_previous",
                      first="grad_{cell}_{when}_first", first_t="first_t_{cell}_{when}")),
        row=Row("[adding_problem](#adding_problem-hochreiter-and-schmidhubers-adding-problem)",
                lambda r: (f"T = 100: test MSE {mse(r.mse_lstm_100)} LSTM, {mse(r.mse_gru_100)} GRU; "
                           f"RNN {r.mse_rnn_100:.3f}"),
                lambda r: f"{r.mse_constant_100:.3f} (guess 1)", "RNN stalls as T grows, gated cells solve it",
                lambda r: "yes" if (r.mse_rnn_100 > 0.9 * r.mse_constant_100
                                    and min(r.hit_lstm_100, r.hit_gru_100) > 0.9) else "no")),
    Run("translate_dates", "translate_dates",
        pictures={"translate_dates_attention.png": "examples-translate_dates-attention.png",
                  "translate_dates_step.png": "examples-translate_dates-step.png"},
        figures=(number("dates", r"^([\d,]+) dates from "), number("formats", r" in (\d+) formats, "),
                 number("characters", r", (\d+) distinct characters; "), number("train", r"; ([\d,]+) for training"),
                 number("shortest", r"^inputs (\d+) to \d+ characters long"),
                 number("longest", r"^inputs \d+ to (\d+) characters long"),
                 each(r"^epoch (?P<epoch>\d+): training loss (?P<loss>[\d.]+), validation exact match "
                      r"(?P<valid>[\d.]+%)", loss="loss_{epoch}", valid="valid_accuracy_{epoch}"),
                 lines("per_format", r"^  .+ +\d+ dates: model "),
                 number("wrong", r"^(\d+) of [\d,]+ held-out dates wrong"),
                 lines("brief", r"^  model: ")),
        row=Row("[translate_dates](#translate_dates-dates-to-iso-with-attention)",
                lambda r: f"{percent(r.value, 2)} exact match", lambda r: f"{percent(r.baseline)} (copying digits)",
                "at least 99 %", lambda r: "yes" if r.value >= 0.99 else "no")),
    # Greff et al.'s LSTM variants, quoted on docs/cells.md (prose and table, no row here).
    Run("lstm_odyssey", "lstm_odyssey", pictures={"lstm_odyssey.png": "cells-lstm-odyssey.png"}, figures=ODYSSEY),
]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="*", help="runs to do (default: all); shell-style patterns match several")
    action = p.add_mutually_exclusive_group()
    action.add_argument("--check", action="store_true",
                        help="rerun and compare every figure with docs/results.json; write nothing")
    action.add_argument("--render", action="store_true", help="only render the pages from docs/results.json")
    action.add_argument("--list", action="store_true", help="list the runs and their commands")
    args = p.parse_args()
    try:
        chosen = select(RUNS, args.runs)
    except KeyError as err:
        p.exit(2, f"{p.prog}: error: {err.args[0]}\n")
    if args.list:
        for run in chosen:
            print(f"{run.name:24} {run.command}")
        return
    failed, differ, started = [], [], time.perf_counter()
    for k, run in enumerate([] if args.render else chosen, 1):
        print(f"[{k}/{len(chosen)}] {run.name}: {run.command}", flush=True)
        with tempfile.TemporaryDirectory(prefix=f"results-{run.name}-") as out:
            try:
                record = execute(run, Path(out), echo=sys.stderr.isatty())
            except RunFailed as err:
                print(f"  FAILED: {err}", flush=True)
                failed.append(run.name)
                continue
            print(f"  {record['result']} in {duration(record['wall_s'])} (CPU {duration(record['cpu_s'])})", flush=True)
            if args.check:
                stored = load_records().get(run.name)
                found = compare(run.name, stored, record) if stored else [f"{run.name}: no record to compare with"]
                print("\n".join(f"  differs: {line}" for line in found) or "  same as docs/results.json")
                differ += found
                continue
            save_record(run.name, record, [r.name for r in RUNS])
            publish_pictures(run, Path(out))
    if not args.render:
        print(f"{len(chosen)} runs in {duration(time.perf_counter() - started)}")
    if not args.check:
        try:
            for page, body in render_pages(RUNS, load_records()).items():
                if not page.exists() or page.read_text(encoding="utf-8") != body:
                    write_atomically(page, body.encode("utf-8"))
                    print(f"rendered {os.path.relpath(page)}")
        except RenderError as err:
            print(f"the pages cannot be rendered from docs/results.json:\n{err}", file=sys.stderr)
            sys.exit(1)
    if failed or differ:
        problem = f"failed: {', '.join(failed)}" if failed else f"{len(differ)} differences from docs/results.json"
        print(f"{problem}; rerun one with: python examples/run_all.py NAME", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
