"""The parity harness: feeds identical weights and batches to numpy_impl and torch_impl.

parity.run_twins("Affine*") runs the registry's twins by name and prints their report, as
`python -m parity --twin 'Affine*'` does; parity.check(MyAffine, "Affine") checks a learner's own layer,
function or optimizer against the torch twins of numpy_impl's (parity.learner). Both are imported on first
use so that `import parity` stays light.
"""


def run_twins(*patterns: str, dtypes=("float64", "float32"), device="cpu", summary=False) -> bool:
    """Run the twins whose names match `patterns` (exact names or globs: 'Pooling*'), print one row per check
    (per twin and dtype with summary=True) and a summary line; True if every check passed. `dtypes`: a dtype
    name or a tuple of them. Raises ValueError when the patterns, dtypes and device select no check."""
    from . import registry, runner
    from .report import summary_line, text_table, worst_per_twin

    if not patterns or not all(isinstance(pattern, str) for pattern in patterns):
        raise ValueError(f"run_twins needs one or more twin names or globs ('Affine*'); got {patterns!r}")
    dtypes, device = runner.checked_dtypes(dtypes), runner.checked_device(device)
    twins = registry.select(list(patterns))
    jobs = runner.require_jobs(runner.jobs(twins, dtypes, [device]), twins, dtypes, [device])
    records = [record for job in jobs for record in runner.run_job(*job)]
    print(text_table(worst_per_twin(records) if summary else records))
    print(summary_line(records))
    return all(record.passed for record in records)


def check(implementation, name: str, dtypes=("float64", "float32"), device="cpu", only: str | None = None,
          html=None) -> bool:
    """parity.learner.check: the learner's `implementation` in place of numpy_impl's `name`, against torch
    (`only`: a glob of the twins to run, for an implementation of part of the layer; `html`: a page of the
    results to write)."""
    from .learner import check as check_against_torch

    return check_against_torch(implementation, name, dtypes, device, only, html)
