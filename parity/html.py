"""`python -m parity --html FILE`: one self-contained page (no script, no network) that sets, for each twin,
the NumPy code beside the torch code, the docs/design.md relation between them where one applies, and the errors
this run measured with their tolerances. Failures come first: the nav marks each twin's verdict, a failing
twin opens with what failed (the shapes, or the worst element's two values) and the NumPy method that computed
it, beside the torch code."""
import html
from pathlib import Path

from .report import HEADERS, _row, summary_line
from .tolerances import __file__ as tolerances_file

DESIGN = (Path(__file__).resolve().parent.parent / "docs" / "design.md").as_uri()
DISAGREEMENTS = DESIGN + "#where-the-book-and-pytorch-disagree"
TOLERANCES = Path(tolerances_file).resolve().as_uri()

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
nav { columns: 3; font-size: 0.85em; margin-bottom: 2em; }
nav a { display: block; }
nav a.fail, nav a.not-run { font-weight: bold; }
section.twin { border-top: 1px solid #ccc; padding-top: 1em; margin-top: 1.5em; }
.sides { display: grid; grid-template-columns: 1fr 1fr; gap: 1em; }
.sides h3 { margin: 0.2em 0; font-size: 0.95em; }
pre { background: #f6f8fa; padding: 0.8em; overflow-x: auto; font-size: 0.8em; max-height: 32em; }
pre.failing { background: #ffebe9; max-height: none; }
.relation { background: #fff8e1; padding: 0.5em 0.8em; white-space: pre-wrap; font-size: 0.9em; }
.failures { background: #ffebe9; padding: 0.5em 0.8em; font-size: 0.9em; }
table { border-collapse: collapse; font-size: 0.8em; margin-top: 0.6em; }
td, th { border: 1px solid #ddd; padding: 0.2em 0.5em; text-align: left; }
.pass { color: #1a7f37; } .fail { color: #cf222e; font-weight: bold; } .not-run { color: #9a6700; }
"""

# the NumPy method that computes what a check compares, by the check's name
METHOD_OF_CHECK = (("grad", "backward"), ("forward", "forward"), ("state", "forward"), ("step", "update"),
                   ("update", "update"), ("param", "update"))


def anchor(name: str) -> str:
    return "twin-" + "".join(c if c.isalnum() else "-" for c in name)


def verdict_of(records) -> str:
    if not records:
        return "not run"
    return "pass" if all(r.passed for r in records) else "FAIL"


def css_of(verdict: str) -> str:
    return {"pass": "pass", "FAIL": "fail"}.get(verdict, "not-run")


def failing_methods(records, methods: dict) -> dict:
    """{method name: its text}, of `methods` (TwinSources.numpy_methods), for those that computed the failing
    checks' values."""
    failing = {}
    for record in records:
        for prefix, method in METHOD_OF_CHECK:
            if not record.passed and record.check.startswith(prefix) and method in methods:
                failing[method] = methods[method]
    return failing


def result_cell(cell: str) -> str:
    return f'<td class="{css_of(cell)}">{html.escape(cell)}</td>'


def twin_section(twin, records) -> str:
    sources = twin.sources()
    verdict = verdict_of(records)
    rows = "".join("<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in _row(r)[1:-1])
                   + result_cell(_row(r)[-1]) + "</tr>" for r in records)
    table = (f"<table><tr>{''.join(f'<th>{h}</th>' for h in HEADERS[1:])}</tr>{rows}</table>"
             f'<p>Tolerances: <a href="{TOLERANCES}">parity/tolerances.py</a> says what each allows and why.</p>'
             if records else "<p>not run here (it needs a dtype or device not asked for or not present)</p>")
    relation = (f'<p class="relation"><b>Relation (<a href="{DISAGREEMENTS}">docs/design.md</a>):</b> '
                f"{html.escape(sources.relation)}</p>" if sources.relation else "")
    failed = [r for r in records if not r.passed]
    failures = ""
    if failed:
        lines = "".join(f"<li>[{html.escape(r.dtype)}, {html.escape(r.device)}] {html.escape(r.describe())}</li>"
                        for r in failed)
        methods = "".join(f'<h3>the NumPy {html.escape(name)}, which computed the failing values</h3>'
                          f'<pre class="failing">{html.escape(text)}</pre>'
                          for name, text in failing_methods(failed, sources.numpy_methods).items())
        failures = f'<div class="failures"><b>What failed</b><ul>{lines}</ul></div>{methods}'
    return (f'<section class="twin" id="{anchor(twin.name)}"><h2>{html.escape(twin.name)} '
            f'<span class="{css_of(verdict)}">{verdict}</span></h2>{failures}'
            f'<div class="sides"><div><h3>numpy_impl</h3><pre>{html.escape(sources.numpy)}</pre></div>'
            f'<div><h3>torch_impl</h3><pre>{html.escape(sources.torch)}</pre></div></div>'
            f"{relation}{table}</section>")


def html_page(twins, records, machine: str) -> str:
    """The page for `twins`, with the `records` this run made, measured on `machine`: the failing twins first."""
    by_twin = {}
    for record in records:
        by_twin.setdefault(record.twin, []).append(record)
    verdicts = {twin.name: verdict_of(by_twin.get(twin.name, [])) for twin in twins}
    ordered = sorted(twins, key=lambda twin: verdicts[twin.name] != "FAIL")
    links = "".join(f'<a class="{css_of(verdicts[t.name])}" href="#{anchor(t.name)}">'
                    f'{"&#10007; " if verdicts[t.name] == "FAIL" else ""}{html.escape(t.name)} '
                    f'<small>({verdicts[t.name]})</small></a>' for t in ordered)
    sections = "".join(twin_section(twin, by_twin.get(twin.name, [])) for twin in ordered)
    failing = sum(verdict == "FAIL" for verdict in verdicts.values())
    status = (f'<p class="fail">{failing} of {len(twins)} twins FAIL: they come first.</p>' if failing
              else '<p class="pass">Every twin that ran passed.</p>')
    return (f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>dlfs-twins: parity</title>"
            f"<style>{STYLE}</style></head><body><h1>numpy_impl and torch_impl, twin by twin</h1>"
            f'<p id="twin-count" data-count="{len(twins)}">{len(twins)} twins; '
            f"{html.escape(summary_line(records))}; measured on {html.escape(machine)}. Where the book and "
            f'PyTorch compute different things, <a href="{DISAGREEMENTS}">docs/design.md</a> has the relation '
            f"each twin checks.</p>{status}"
            f"<nav>{links}</nav>{sections}</body></html>\n")
