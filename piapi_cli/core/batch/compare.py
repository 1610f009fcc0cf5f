"""Comparing models: the same input sent to several models, as one ordinary batch run.

``compare_rows`` turns ``-m MODEL[:TASK_TYPE]`` targets and ``-i`` assignments into batch
rows, one per model, each keyed by its model (``model:task_type`` where a model is given with
two task types). The run is named from what is compared (``compare-<digest>``), so the same
command again resumes it: tasks that exist are waited for or shown, never paid for twice.
"""

from __future__ import annotations

import hashlib

from piapi_cli.api.errors import UsageError
from piapi_cli.api.records import record
from piapi_cli.core.batch.rows import SourceRow
from piapi_cli.core.catalog import Catalog, TaskType
from piapi_cli.core.inputs import parse_assignment, split_key

#: more models than this in one comparison is most likely a slip (each is a paid task)
MAX_TARGETS = 32


@record(frozen=True)
class Target:
    model: str
    task_type: str


def parse_targets(specs: list[str], assignments: list[str], catalog: Catalog) -> list[Target]:
    """``MODEL[:TASK_TYPE]`` as targets. Without a task type, the model's first task type (in
    the catalog's order) that the given inputs fill: ``txt2img`` for Flux given a prompt."""
    if len(specs) < 1:
        raise UsageError("compare: give the models to compare with -m (e.g. -m Qubico/flux1-dev -m midjourney)")
    if len(specs) > MAX_TARGETS:
        raise UsageError(f"compare: {len(specs)} models; at most {MAX_TARGETS} in one comparison")
    given = {split_key(parse_assignment(a)[0])[0] for a in assignments}
    targets: list[Target] = []
    for spec in specs:
        model, sep, task_type = spec.strip().partition(":")
        model, task_type = model.strip(), task_type.strip()
        if not model or (sep and not task_type):
            raise UsageError(f"-m {spec!r}: expected MODEL or MODEL:TASK_TYPE (e.g. Qubico/flux1-dev:txt2img)")
        target = Target(model, task_type or _default_task_type(model, given, catalog))
        if target in targets:
            raise UsageError(f"-m {spec!r}: {target.model} {target.task_type} is given twice")
        targets.append(target)
    return targets


def _default_task_type(model: str, given: set[str], catalog: Catalog) -> str:
    known = catalog.model(model)
    if known is None:
        raise UsageError(f"-m {model}: not a model in the catalog; give its task type as {model}:TASK_TYPE")
    for name, spec in known.task_types.items():
        required = {k for k, f in spec.fields.items() if f.required}
        if required <= given and (required or given & set(spec.fields)):
            return name
    names = ", ".join(known.task_types)
    raise UsageError(f"-m {model}: no task type of it takes just these inputs; give one as {model}:TYPE ({names})")


def key_of(target: Target, targets: list[Target]) -> str:
    """A row's key: the model, or ``model:task_type`` where the model is compared with itself."""
    twice = sum(t.model == target.model for t in targets) > 1
    return f"{target.model}:{target.task_type}" if twice else target.model


def _takes(spec: TaskType | None, key: str) -> bool:
    return spec is None or spec.open or split_key(key)[0] in spec.fields


def compare_rows(targets: list[Target], assignments: list[str], catalog: Catalog) -> tuple[list[SourceRow], list[str]]:
    """One row per target with the inputs its task type takes; a warning for each input
    dropped (the catalog says the task type does not take it, and another compared one does)."""
    rows: list[SourceRow] = []
    warnings: list[str] = []
    specs = [catalog.task_type(t.model, t.task_type) for t in targets]
    # an input no compared model takes is kept, for the checks to judge (a typo such as widht
    # is refused there, not silently left out)
    known = {parse_assignment(a)[0] for a in assignments if any(_takes(s, parse_assignment(a)[0]) for s in specs)}
    for line, (target, spec) in enumerate(zip(targets, specs, strict=True), start=1):
        kept = [a for a in assignments if _takes(spec, parse_assignment(a)[0]) or parse_assignment(a)[0] not in known]
        dropped = sorted({parse_assignment(a)[0] for a in assignments if a not in kept})
        if dropped:
            warnings.append(
                f"{target.model} {target.task_type} does not take {', '.join(dropped)}: "
                f"{'it is' if len(dropped) == 1 else 'they are'} left out of its task"
            )
        key = key_of(target, targets)
        fields = {"id": key, "model": target.model, "task_type": target.task_type}
        rows.append(SourceRow(line, key, target.model, target.task_type, assignments=kept, fields=fields))
    return rows, warnings


def compare_run_id(world: str, targets: list[Target], assignments: list[str]) -> str:
    """The run's name: the same models and inputs (in any order) on the same API make the same
    run, so running the command again resumes it instead of paying again."""
    what = "\0".join(sorted(f"{t.model}:{t.task_type}" for t in targets)) + "\0\0" + "\0".join(sorted(assignments))
    return "compare-" + hashlib.sha256(f"{world}\n{what}".encode()).hexdigest()[:10]
