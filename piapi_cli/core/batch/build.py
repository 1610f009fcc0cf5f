"""From rows to requests: every row checked as ``create`` checks its options, before any is sent.

The defaults (``-m``, ``-t``, ``-i``, ``--webhook``) apply to every row, and a row's own values
win. ``--template`` builds a field (the prompt) from the row's fields. A row that fails a
check becomes a ``Problem``; one bad row anywhere stops the whole run before the first create
(``InvalidRows``, exit 2): a batch multiplies the cost of a typo, so here an unknown model,
task type or input field is an error, not the warning ``create`` gives (``--no-validate``
sends them anyway).
"""

from __future__ import annotations

import json
from string import Formatter
from typing import Any

from piapi_cli.api.errors import UsageError
from piapi_cli.api.records import field, record
from piapi_cli.api.tasks import TaskRequest
from piapi_cli.core.batch.rows import Problem, SourceRow
from piapi_cli.core.catalog import Catalog, load_catalog
from piapi_cli.core.inputs import parse_assignment, split_key
from piapi_cli.core.requests import Built, build_request
from piapi_cli.core.uploads import placeholder

#: the fields a --name template gets from the downloader itself (one output file each)
FILE_FIELDS = frozenset({"task_id", "index", "key", "model", "task_type", "ext", "name"})
DEFAULT_NAME = "{id}-{index}.{ext}"
CONFIG_KEYS = ("service_mode", "webhook_config")


class InvalidRows(UsageError):
    """Rows that cannot be sent; nothing was sent."""

    def __init__(self, problems: list[Problem], total: int) -> None:
        count = len({(p.line, p.row_id) for p in problems})
        lines = "\n".join(f"  {p.describe()}" for p in problems)
        super().__init__(
            f"{count} of {total} rows cannot be sent; nothing was sent:\n{lines}",
            hint="fix the rows (or the defaults given with -m, -t, -i) and run the same command again",
            advice="no_validate_rows" if any(p.field is None and p.option is None for p in problems) else None,
        )
        self.problems = problems


@record()
class Defaults:
    """What the command line gives every row."""

    model: str | None = None
    task_type: str | None = None
    assignments: list[str] = field(default_factory=list)
    webhook: str | None = None
    webhook_secret: str | None = None
    service_mode: str | None = None
    default_service_mode: str | None = None
    template: str | None = None
    template_field: str = "prompt"
    validate: bool = True


@record()
class RowRequest:
    """A checked row, ready to send (once its local files, if any, are uploaded)."""

    key: str
    line: int
    built: Built
    #: the digest that tells whether the row changed since its task was created
    fingerprint: str
    #: values for --name templates
    fields: dict[str, str]

    @property
    def request(self) -> TaskRequest:
        return self.built.request

    @property
    def kind(self) -> tuple[str, str]:
        return (self.request.model, self.request.task_type)


def template_names(template: str, where: str) -> list[str]:
    """The field names a ``str.format`` template uses; a usage error for a broken one."""
    try:
        names = [name for _, name, _, _ in Formatter().parse(template) if name is not None]
    except ValueError as exc:
        raise UsageError(f"{where} {template!r}: {exc}", option=where) from None
    for name in names:
        if not name.isidentifier():
            raise UsageError(
                f"{where} {template!r}: {{{name}}} is not a field name (use plain names like {{id}})", option=where
            )
    return names


def _fill(template: str, values: dict[str, str], where: str) -> str:
    try:
        return template.format(**values)
    except KeyError as exc:
        raise UsageError(f"{where}: no field {exc.args[0]!r} in this row", option=where) from None
    except (ValueError, IndexError, OverflowError, MemoryError) as exc:
        raise UsageError(f"{where}: {type(exc).__name__}: {exc}", option=where) from None


def name_for_row(template: str, fields: dict[str, str]) -> str:
    """A --name template with the row's fields filled in and the file's own fields kept as
    fields (``{index}``, ``{ext}``...), so the downloader fills those per output."""
    out = []
    for literal, name, spec, conversion in Formatter().parse(template):
        out.append(literal.replace("{", "{{").replace("}", "}}"))
        if name is None:
            continue
        if name in FILE_FIELDS:
            out.append("{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}")
            continue
        piece = "{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
        value = _fill(piece, fields, "name")
        if len(value) > 1024:
            raise UsageError(f"name: field {{{name}}} makes a name over 1,024 characters", option="name")
        out.append(value.replace("{", "{{").replace("}", "}}"))
    return "".join(out)


class RowBuilder:
    """Builds each row's request with the run's defaults; raises ``UsageError`` for a bad one."""

    def __init__(self, defaults: Defaults, *, template_fields: set[str], catalog: Catalog | None = None) -> None:
        self.defaults = defaults
        self.catalog = catalog or load_catalog(user=True)
        #: fields a --template or --name reads: JSONL keys that may stand beside id, input...
        self.template_fields = template_fields

    def build(self, row: SourceRow) -> tuple[Built, list[str]]:
        d = self.defaults
        unknown = [k for k in row.extra if k not in self.template_fields]
        if unknown:
            raise UsageError(
                f"unknown field {', '.join(repr(k) for k in unknown)} "
                f"(a row has {', '.join(('id', 'model', 'task_type', 'input', 'config'))}, "
                "and the fields of the prompt and file name templates)"
            )
        model = row.model or d.model
        task_type = row.task_type or d.task_type
        if not model:
            raise UsageError("no model: give the row a model (a model column or key), or -m for every row")
        if not task_type:
            raise UsageError("no task type: give the row a task_type, or -t for every row")
        service_mode, webhook, secret = _row_config(row, d)

        # the defaults first, those the row sets itself left out (a row's own value wins, and an
        # array field would otherwise get both); then the row's own cells; then the template
        mine: list[str] = []
        if row.input is None:
            consumed = set(template_names(d.template, "template")) if d.template else set()
            mine = [a for a in row.assignments if parse_assignment(a)[0] not in consumed]
        overridden = {parse_assignment(a)[0] for a in row.overrides}
        mine = [a for a in mine if parse_assignment(a)[0] not in overridden]
        own_keys = {parse_assignment(a)[0] for a in mine}

        def owns(key: str) -> bool:
            if key in overridden:
                return True
            if row.input is not None:
                return _get(row.input, split_key(key)) is not None
            return key in own_keys

        assignments = [a for a in d.assignments if not owns(parse_assignment(a)[0])] + mine + row.overrides
        if d.template is not None and not owns(d.template_field):
            prompt = _fill(d.template, row.fields, "template")
            assignments.append(f"{d.template_field}:={json.dumps(prompt)}")  # as written: never coerced
        built = build_request(
            model,
            task_type,
            assignments=assignments,
            base_input=row.input,
            service_mode=service_mode,
            default_service_mode=d.default_service_mode,
            webhook=webhook,
            webhook_secret=secret,
            validate=d.validate,
            catalog=self.catalog,
        )
        return built, built.warnings


def _row_config(row: SourceRow, d: Defaults) -> tuple[str | None, str | None, str | None]:
    """A row's service mode, webhook and its secret: the row's ``config``, else the run's."""
    config = row.config or {}
    stray = sorted(set(config) - set(CONFIG_KEYS))
    if stray:
        raise UsageError(f"config: unknown key {', '.join(stray)} (expected {', '.join(CONFIG_KEYS)})")
    hook = config.get("webhook_config")
    if hook is not None and not (isinstance(hook, dict) and isinstance(hook.get("endpoint"), str)):
        raise UsageError("config.webhook_config: expected an object with an endpoint")
    service_mode = config.get("service_mode") or d.service_mode
    if service_mode is not None and not isinstance(service_mode, str):
        raise UsageError("config.service_mode: expected public or private")
    webhook = hook["endpoint"] if hook else d.webhook
    secret = (hook.get("secret") if hook else None) or d.webhook_secret
    return service_mode, webhook, secret


def _get(node: dict[str, Any], parts: list[str]) -> Any:
    current: Any = node
    for part in parts:
        if not isinstance(current, dict):
            return None
        current = current.get(part)
    return current


def _refusal(warning: str) -> str:
    for tail in ("; sending it anyway", "; sending as given"):
        warning = warning.replace(tail, "")
    return warning


def fingerprint(built: Built) -> str:
    """The request's digest with local files as their ``@path`` (an upload's URL changes each
    time; the row does not)."""
    preview = TaskRequest(
        built.request.model, built.request.task_type, placeholder(built.request.input), built.request.config
    )
    return preview.fingerprint()


def build_rows(
    rows: list[SourceRow],
    defaults: Defaults,
    *,
    name_template: str | None = None,
    catalog: Catalog | None = None,
) -> tuple[list[RowRequest], list[Problem], list[str]]:
    """Every row's request; the problems of the rows that cannot be sent; warnings (once each)."""
    used: set[str] = set()
    if defaults.template is not None:
        used |= set(template_names(defaults.template, "template"))
    if name_template is not None:
        used |= set(template_names(name_template, "name")) - FILE_FIELDS
    builder = RowBuilder(defaults, template_fields=used, catalog=catalog)
    built_rows: list[RowRequest] = []
    problems: list[Problem] = []
    warnings: list[str] = []
    for row in rows:
        try:
            built, row_warnings = builder.build(row)
        except UsageError as exc:
            problems.append(Problem(row.line, row.id, exc.message, getattr(exc, "field", None), exc.option))
            continue
        if defaults.validate and row_warnings:
            # create sends these with a warning; here a typo would be paid for once per row
            reasons = "; ".join(_refusal(w) for w in row_warnings)
            problems.append(Problem(row.line, row.id, f"{reasons} (sent anyway without the catalog's checks)"))
            continue
        for warning in row_warnings:
            if warning not in warnings:
                warnings.append(warning)
        built_rows.append(RowRequest(row.id, row.line, built, fingerprint(built), row.fields))
    return built_rows, problems, warnings
