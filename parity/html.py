"""`python -m parity --html FILE`: one self-contained page (no script, no network) that sets, for each twin,
the NumPy code beside the torch code, the DESIGN.md relation between them where one applies, and the errors
this run measured with their tolerances."""
import html

from .report import HEADERS, _row, summary_line

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
nav { columns: 3; font-size: 0.85em; margin-bottom: 2em; }
nav a { display: block; }
section.twin { border-top: 1px solid #ccc; padding-top: 1em; margin-top: 1.5em; }
.sides { display: grid; grid-template-columns: 1fr 1fr; gap: 1em; }
.sides h3 { margin: 0.2em 0; font-size: 0.95em; }
pre { background: #f6f8fa; padding: 0.8em; overflow-x: auto; font-size: 0.8em; max-height: 32em; }
.relation { background: #fff8e1; padding: 0.5em 0.8em; white-space: pre-wrap; font-size: 0.9em; }
table { border-collapse: collapse; font-size: 0.8em; margin-top: 0.6em; }
td, th { border: 1px solid #ddd; padding: 0.2em 0.5em; text-align: left; }
.pass { color: #1a7f37; } .fail { color: #cf222e; font-weight: bold; }
"""


def anchor(name: str) -> str:
    return "twin-" + "".join(c if c.isalnum() else "-" for c in name)


def twin_section(twin, records) -> str:
    sources = twin.sources()
    verdict = "pass" if records and all(r.passed for r in records) else ("not run" if not records else "FAIL")
    css = "pass" if verdict == "pass" else "fail"
    rows = "".join("<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in _row(r)[1:]) + "</tr>"
                   for r in records)
    table = (f"<table><tr>{''.join(f'<th>{h}</th>' for h in HEADERS[1:])}</tr>{rows}</table>" if records
             else "<p>not run here (it needs a dtype or device not asked for or not present)</p>")
    relation = (f'<p class="relation"><b>Relation (DESIGN.md):</b> {html.escape(sources.relation)}</p>'
                if sources.relation else "")
    return (f'<section class="twin" id="{anchor(twin.name)}"><h2>{html.escape(twin.name)} '
            f'<span class="{css}">{verdict}</span></h2>'
            f'<div class="sides"><div><h3>numpy_impl</h3><pre>{html.escape(sources.numpy)}</pre></div>'
            f'<div><h3>torch_impl</h3><pre>{html.escape(sources.torch)}</pre></div></div>'
            f"{relation}{table}</section>")


def html_page(twins, records, machine: str) -> str:
    """The page for `twins`, with the `records` this run made, measured on `machine`."""
    by_twin = {}
    for record in records:
        by_twin.setdefault(record.twin, []).append(record)
    links = "".join(f'<a href="#{anchor(t.name)}">{html.escape(t.name)}</a>' for t in twins)
    sections = "".join(twin_section(twin, by_twin.get(twin.name, [])) for twin in twins)
    return (f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>dlfs-twins: parity</title>"
            f"<style>{STYLE}</style></head><body><h1>numpy_impl and torch_impl, twin by twin</h1>"
            f'<p id="twin-count" data-count="{len(twins)}">{len(twins)} twins; '
            f"{html.escape(summary_line(records))}; measured on {html.escape(machine)}</p>"
            f"<nav>{links}</nav>{sections}</body></html>\n")
