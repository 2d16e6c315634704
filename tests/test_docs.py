"""Every ```python block in README.md and docs/*.md runs, and printed output matches the page.

One test per page. A page's python blocks run in order in one namespace (later blocks use
earlier names), with the repository root as the working directory and ``tempfile`` pointed
at a fresh temporary directory (so ``tempfile.mkdtemp()`` on a page writes nowhere else).
Markers, an HTML comment on the line(s) right before a block:

- ``<!-- docs-test: skip (reason) -->`` before a python block: do not run it.
- a ```text block right after a python block holds the python block's expected stdout.
- ``<!-- docs-test: approx 1e-6 -->`` before that text block: numbers may differ by the stated
  relative or absolute tolerance; everything else must match.
- ``<!-- docs-test: source micrograd_seq/graph.py _reachable _sweep -->`` before a python block:
  the block is those functions' (or ``Class.method``s') source, found by name, one after the
  other; it is compared with the file, not run. ``python tests/test_docs.py --update-sources``
  rewrites every such block from the source.

```bash blocks (and any other language) are not run. Local files a page links to must exist, and
an SVG picture the page shows that its code draws again under the same file name must show the same
labels (so a page's figures are what its code makes). A page holds no control characters (a TAB
or a stray escape, such as ``\t`` in ``$\tanh$`` written into a Python string, breaks what it
shows), and no claim measured to be false (``RETRACTED``).
A page whose code needs an optional package (torch, matplotlib, ...) that is absent, or the
Graphviz ``dot`` program when it is missing, is skipped with the reason.
"""
from __future__ import annotations

import ast
import contextlib
import difflib
import io
import math
import re
import shutil
import sys
import tempfile
import textwrap
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted((ROOT / "docs").glob("*.md")) + [p for p in [ROOT / "README.md"] if p.exists()]
OPTIONAL_MODULES = {"torch", "matplotlib", "tqdm", "sklearn", "statsmodels"}

FENCE = re.compile(r"^(?P<indent> *)```(?P<lang>[\w+-]*)\s*$")
MARKER = re.compile(r"^\s*<!--\s*docs-test:\s*(?P<kind>skip|approx|source)\b(?P<arg>.*?)-->\s*$")
LINK = re.compile(r"\]\((?P<md>[^)\s#]+)[^)]*\)|<img\s[^>]*src=\"(?P<html>[^\"]+)\"")
NUMBER = re.compile(r"([-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?|[-+]?\b(?:nan|inf)\b)")


@dataclass
class Block:
    lang: str
    code: str
    line: int            # line number of the block's first code line in the page
    marker: str | None   # "skip" or "approx"
    marker_arg: str
    follows: bool        # only blank lines (and its marker) between it and the previous block


def parse(text: str) -> list[Block]:
    """The fenced blocks of a markdown page, with their markers."""
    blocks: list[Block] = []
    lines = text.splitlines()
    marker, gap_clean, i = None, False, 0
    while i < len(lines):
        line = lines[i]
        fence = FENCE.match(line)
        if fence is None:
            found = MARKER.match(line)
            if found:
                marker = found
            elif line.strip():
                marker, gap_clean = None, False
            i += 1
            continue
        indent, start = len(fence["indent"]), i + 1
        i = start
        while i < len(lines) and not re.match(r"^ *```\s*$", lines[i]):
            i += 1
        code = "\n".join(line[indent:] for line in lines[start:i]) + "\n"
        blocks.append(Block(fence["lang"].lower(), code, start + 1, marker and marker["kind"],
                            marker["arg"].strip() if marker else "", gap_clean))
        marker, gap_clean, i = None, True, i + 1
    return blocks


def same_output(got: str, expected: str, tolerance: float | None) -> bool:
    """Exact match of stripped lines, or with numbers compared to ``tolerance`` when given."""
    got, expected = (("\n".join(line.rstrip() for line in s.strip("\n").splitlines())) for s in (got, expected))
    if tolerance is None:
        return got == expected
    parts_got, parts_expected = NUMBER.split(got), NUMBER.split(expected)
    if len(parts_got) != len(parts_expected):
        return False
    for k, (a, b) in enumerate(zip(parts_got, parts_expected, strict=True)):
        if k % 2 == 0 and a.split() != b.split():
            return False
        if k % 2 == 1 and not math.isclose(float(a), float(b), rel_tol=tolerance, abs_tol=tolerance):
            return False
    return True


def tolerance_of(block: Block, where: str) -> float | None:
    if block.marker != "approx":
        return None
    try:
        return float(block.marker_arg)
    except ValueError:
        pytest.fail(f"{where}: the approx marker must state its tolerance, e.g. <!-- docs-test: approx 1e-6 -->")


def skip_if_optional_missing(err: BaseException, page: str) -> None:
    """Skip the page when it failed only because an optional tool is not installed."""
    if isinstance(err, ModuleNotFoundError) and (err.name or "").split(".")[0] in OPTIONAL_MODULES:
        pytest.skip(f"{page} needs {err.name}, which is not installed")
    if shutil.which("dot") is None and type(err).__name__ in ("GraphvizNotFoundError", "ExecutableNotFound"):
        pytest.skip(f"{page} renders with the Graphviz dot program, which is not installed")


def check_links(page: Path, text: str) -> None:
    """Every local file a page links to or shows (pages, images, scripts) exists."""
    targets = [found["md"] or found["html"] for found in LINK.finditer(text)]
    missing = [t for t in targets if ":" not in t and not (page.parent / t).exists()]
    if missing:
        pytest.fail(f"{page.name} links to files that do not exist: {missing}", pytrace=False)


def svg_labels(path: Path) -> list[str]:
    """The text a drawing shows, sorted: equal for the same graph whatever the layout engine did."""
    return sorted(re.findall(r"<text[^>]*>([^<]*)</text>", path.read_text(encoding="utf-8")))


def check_figures(page: Path, text: str, drawn_dir: Path) -> None:
    """A picture the page shows that its code draws again (same file name) shows the same labels."""
    shown = {Path(t).name: page.parent / t for t in (f["md"] or f["html"] for f in LINK.finditer(text))
             if t.endswith(".svg") and ":" not in t}
    for drawn in drawn_dir.rglob("*.svg"):
        if drawn.name in shown and svg_labels(drawn) != svg_labels(shown[drawn.name]):
            pytest.fail(f"{page.name}: its code draws {drawn.name} differently from the picture it shows "
                        f"({shown[drawn.name].relative_to(page.parent)}); regenerate the picture or fix the code",
                        pytrace=False)


def check_markers(blocks: list[Block], page: str) -> None:
    """A skip marker says why and sits on a python block; an approx marker sits on a text block."""
    for block in blocks:
        if block.marker == "skip" and (block.lang != "python" or not block.marker_arg):
            pytest.fail(f"{page}:{block.line}: write <!-- docs-test: skip (reason) --> right before a "
                        "python block", pytrace=False)
        if block.marker == "source" and (block.lang != "python" or len(block.marker_arg.split()) < 2):
            pytest.fail(f"{page}:{block.line}: write <!-- docs-test: source path/to/file.py name ... --> right "
                        "before a python block", pytrace=False)
        if block.marker == "approx" and block.lang != "text":
            pytest.fail(f"{page}:{block.line}: the approx marker belongs right before the text block "
                        "holding the output", pytrace=False)


# Sentences once on these pages that measurement showed to be false; they must not come back.
RETRACTED = {
    "gradient-flow.md": ["has no setting that keeps the gradient near 1"],
    "visualizing.md": ["sub(number, ·)", "A plain Python number is recorded without its value",
                       "The whole input sequence is projected before the loop, in one matmul"],
    "tutorial.md": ["projects the whole input sequence with one matrix product",
                    "multiplies the whole input sequence by `weight_ih_l0`"],
}


def check_characters(page: str, text: str) -> None:
    """No control character but the newline: a TAB or an escape that slipped into the text shows wrongly."""
    for number, line in enumerate(text.split("\n"), 1):
        for column, char in enumerate(line, 1):
            if unicodedata.category(char) == "Cc":
                pytest.fail(f"{page}:{number}:{column}: control character {char!r} in {line.strip()[:60]!r}",
                            pytrace=False)


def check_retracted(page: Path, text: str) -> None:
    flat = " ".join(text.split())
    for claim in RETRACTED.get(page.name, []):
        if claim in flat:
            pytest.fail(f"{page.name} says {claim!r} again, which was measured to be false", pytrace=False)


def source_of(spec: str) -> str:
    """The source of the functions a source marker names (``file.py name Class.method ...``), as in the file."""
    path, *names = spec.split()
    text = (ROOT / path).read_text(encoding="utf-8")
    lines = text.splitlines()
    found: dict[str, ast.AST] = {}
    for node in ast.parse(text).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            found[node.name] = node
            if isinstance(node, ast.ClassDef):
                found.update((f"{node.name}.{inner.name}", inner) for inner in node.body
                             if isinstance(inner, (ast.FunctionDef, ast.AsyncFunctionDef)))
    parts = []
    for name in names:
        node = found.get(name)
        if node is None:
            pytest.fail(f"source marker: {path} has no function or class {name!r} (it has {sorted(found)})",
                        pytrace=False)
        first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        parts.append(textwrap.dedent("\n".join(lines[first - 1:node.end_lineno])))
    return "\n\n\n".join(parts) + "\n"


def check_sources(blocks: list[Block], page: str) -> None:
    """Each block under a source marker shows the named source exactly as the file has it now."""
    for block in blocks:
        if block.marker == "source" and block.code != source_of(block.marker_arg):
            diff = difflib.unified_diff(block.code.splitlines(), source_of(block.marker_arg).splitlines(),
                                        "on the page", block.marker_arg, lineterm="")
            pytest.fail(f"{page}:{block.line}: the source shown differs from {block.marker_arg} (run "
                        "`python tests/test_docs.py --update-sources`):\n" + "\n".join(diff), pytrace=False)


def update_sources(page: Path) -> bool:
    """Rewrite the page's source-marked blocks from the files; True if anything changed."""
    lines = page.read_text(encoding="utf-8").split("\n")
    out, k, changed = [], 0, False
    while k < len(lines):
        out.append(lines[k])
        marker = MARKER.match(lines[k])
        if marker and marker["kind"] == "source" and k + 1 < len(lines) and FENCE.match(lines[k + 1]):
            end = k + 2
            while not re.match(r"^ *```\s*$", lines[end]):
                end += 1
            fresh = source_of(marker["arg"].strip()).rstrip("\n").split("\n")
            changed |= lines[k + 2:end] != fresh
            out += [lines[k + 1], *fresh, lines[end]]
            k = end
        k += 1
    if changed:
        page.write_text("\n".join(out), encoding="utf-8")
    return changed


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_page(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    name = str(page.relative_to(ROOT))
    text = page.read_text(encoding="utf-8")
    check_characters(name, text)
    check_retracted(page, text)
    check_links(page, text)
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    namespace: dict = {"__name__": "__main__"}
    blocks = parse(text)
    check_markers(blocks, name)
    check_sources(blocks, name)
    try:
        for k, block in enumerate(blocks):
            if block.lang != "python" or block.marker in ("skip", "source"):
                continue
            where = f"{name}:{block.line}"
            stdout = io.StringIO()
            try:
                with contextlib.redirect_stdout(stdout):
                    exec(compile("\n" * (block.line - 1) + block.code, name, "exec"), namespace)
            except Exception as err:
                skip_if_optional_missing(err, name)
                sys.stdout.write(stdout.getvalue())
                raise
            following = blocks[k + 1] if k + 1 < len(blocks) else None
            if following is not None and following.lang == "text" and following.follows:
                tolerance = tolerance_of(following, f"{name}:{following.line}")
                if not same_output(stdout.getvalue(), following.code, tolerance):
                    diff = difflib.unified_diff(following.code.strip("\n").splitlines(),
                                                stdout.getvalue().strip("\n").splitlines(),
                                                "on the page", "printed", lineterm="")
                    pytest.fail(f"{where}: the printed output differs from the text block at line "
                                f"{following.line}" + (f" (tolerance {tolerance})" if tolerance else "")
                                + ":\n" + "\n".join(diff), pytrace=False)
        check_figures(page, text, tmp_path)
    finally:
        if "matplotlib.pyplot" in sys.modules:
            sys.modules["matplotlib.pyplot"].close("all")


# ---- the runner's own rules, checked on small pages ----------------------------------

SAMPLE = """\
Intro.

```python
x = 2
print(x * 21)
```

```text
42
```

<!-- docs-test: skip (needs a GPU) -->
```python
raise SystemExit("skipped blocks never run")
```

Prose between.

```text
not attached to a python block
```

```bash
make test
```

```python
print(x / 3)
```
<!-- docs-test: approx 1e-3 -->
```text
0.6667
```
"""


def test_parse_finds_blocks_markers_and_adjacency() -> None:
    blocks = parse(SAMPLE)
    assert [b.lang for b in blocks] == ["python", "text", "python", "text", "bash", "python", "text"]
    assert blocks[0].line == 4 and blocks[1].follows
    assert blocks[2].marker == "skip" and blocks[2].marker_arg == "(needs a GPU)"
    assert not blocks[3].follows
    assert blocks[6].marker == "approx" and blocks[6].marker_arg == "1e-3" and blocks[6].follows


def test_sample_page_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    page = tmp_path / "sample.md"
    page.write_text(SAMPLE)
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    test_page(page, tmp_path, monkeypatch)


def test_wrong_output_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    page = tmp_path / "wrong.md"
    page.write_text(SAMPLE.replace("42", "43"))
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    with pytest.raises(pytest.fail.Exception, match=r"wrong.md:4: the printed output differs"):
        test_page(page, tmp_path, monkeypatch)


def test_figure_drawn_differently_fails(tmp_path: Path) -> None:
    shown, drawn = tmp_path / "shown", tmp_path / "drawn"
    shown.mkdir(), drawn.mkdir()
    (shown / "g.svg").write_text('<svg><text x="1">t=0</text><text x="2">loss</text></svg>')
    (drawn / "g.svg").write_text('<svg><text x="9">loss</text><text x="5">t=0</text></svg>')
    check_figures(shown / "page.md", "![graph](g.svg)", drawn)
    (drawn / "g.svg").write_text('<svg><text x="9">loss</text><text x="5">t=1</text></svg>')
    with pytest.raises(pytest.fail.Exception, match="draws g.svg differently"):
        check_figures(shown / "page.md", "![graph](g.svg)", drawn)


def test_misplaced_markers_fail() -> None:
    with pytest.raises(pytest.fail.Exception, match="skip"):
        check_markers(parse("<!-- docs-test: skip -->\n```python\npass\n```\n"), "page.md")
    with pytest.raises(pytest.fail.Exception, match="approx"):
        check_markers(parse("<!-- docs-test: approx 1e-6 -->\n```python\npass\n```\n"), "page.md")


def test_same_output_rules() -> None:
    assert same_output("a  1.0\n\n", "a  1.0", None)
    assert not same_output("a 1.00001", "a 1.0", None)
    assert same_output("loss [0.50001  2.]", "loss [0.5 2.]", 1e-4)
    assert not same_output("loss 0.51", "loss 0.5", 1e-4)
    assert not same_output("gain 0.5", "loss 0.5", 1e-4)


def test_missing_link_target_fails(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    (tmp_path / "here.md").write_text("")
    check_links(page, "[here](here.md#a-section), [web](https://example.org), [top](#top)")
    with pytest.raises(pytest.fail.Exception, match="images/none.svg"):
        check_links(page, "![an unrolled LSTM](images/none.svg)")


def test_control_characters_are_refused() -> None:
    check_characters("page.md", "a $\\tanh$ and a tab-free line\n")
    for bad in ("\t", "\x1b", "\r", "\x00"):
        with pytest.raises(pytest.fail.Exception, match=r"page.md:2:6: control character"):
            check_characters("page.md", f"fine\n$x = {bad}anh$\n")


def test_retracted_claims_are_refused() -> None:
    page = Path("gradient-flow.md")
    check_retracted(page, "The tanh RNN keeps the gradient near 1 only on a knife-edge.")
    with pytest.raises(pytest.fail.Exception, match="measured to be false"):
        check_retracted(page, "The tanh RNN has no setting\nthat keeps the gradient near 1 over 50 steps.")


def test_source_blocks_follow_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "mod.py").write_text("import os\n\n\ndef f(x):\n    return x + 1\n\n\nclass A:\n"
                                     "    @staticmethod\n    def g():\n        return 2\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    page = tmp_path / "page.md"
    shown = "def f(x):\n    return x + 1\n\n\n@staticmethod\ndef g():\n    return 2\n"
    text = f"<!-- docs-test: source mod.py f A.g -->\n```python\n{shown}```\n"
    check_sources(parse(text), "page.md")
    stale = text.replace("x + 1", "x + 2")
    with pytest.raises(pytest.fail.Exception, match="differs from mod.py f A.g"):
        check_sources(parse(stale), "page.md")
    page.write_text(stale)
    assert update_sources(page) and page.read_text() == text and not update_sources(page)
    with pytest.raises(pytest.fail.Exception, match="no function or class 'h'"):
        source_of("mod.py h")


if __name__ == "__main__":
    if sys.argv[1:] == ["--update-sources"]:
        for page in PAGES:
            if update_sources(page):
                print(f"updated {page.relative_to(ROOT)}")
    else:
        sys.exit("usage: python tests/test_docs.py --update-sources")
