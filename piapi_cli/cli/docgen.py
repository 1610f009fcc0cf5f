"""One generator for everything derived from the command tree: the cached help texts,
the bash/zsh/fish completions and the man pages. ``python -m piapi_cli.cli.docgen`` writes
them; ``--check`` fails when a committed file differs from what the code generates.

Completion scripts are static: model names and each model's task types are written into
them from the catalog, so pressing TAB never starts Python and never touches the network.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from piapi_cli import __version__
from piapi_cli.core.catalog import load_catalog

ROOT = Path(__file__).resolve().parent.parent.parent
HELP_MODULE = Path(__file__).resolve().parent / "_helptext.py"
EXIT_CODES = [
    ("0", "success"),
    ("1", "unexpected internal error"),
    ("2", "usage error or invalid input; nothing was sent"),
    ("3", "authentication or configuration: no key, 401, 403, unreadable config"),
    ("4", "the API refused the request: 400, 404 and other 4xx"),
    ("5", "network or server failure after retries: connection, timeout, 5xx, malformed response"),
    ("6", "rate limited after retries (429)"),
    ("7", "the task finished as failed or cancelled"),
    ("8", "the wait deadline passed while the task still runs; it is not cancelled"),
    ("9", "the task completed but an output could not be downloaded"),
    ("130", "interrupted (Ctrl-C); the IDs of tasks already created are printed to stderr"),
]
ENVIRONMENT = [
    ("PIAPI_API_KEY", "API key; beats the config file"),
    ("PIAPI_BASE_URL", "API address (default https://api.piapi.ai)"),
    ("PIAPI_UPLOAD_URL", "upload endpoint address (default https://upload.theapi.app)"),
    ("PIAPI_PROFILE", "config profile to use (default: default)"),
    ("PIAPI_CONFIG_DIR", "directory of config.toml"),
    ("PIAPI_DATA_DIR", "directory of piapi's data: the task journal, the in-process sandbox's tasks"),
    ("PIAPI_JOURNAL", "0: do not record created tasks in the journal, as --no-journal"),
    ("PIAPI_SANDBOX_KEY", "the only x-api-key piapi sandbox serve accepts"),
    ("PIAPI_SANDBOX", "1: use the built-in sandbox, as --sandbox"),
    ("PIAPI_SANDBOX_SPEED", "speed factor of sandbox tasks (10: ten times faster)"),
    ("PIAPI_MAX_POLL_INTERVAL", "longest pause between two polls, in seconds"),
    ("PIAPI_WEBHOOK_SECRET", "default --webhook-secret of create"),
    ("NO_COLOR", "no colour in output"),
]
#: option values completed from the catalog or a fixed list, by option name
VALUE_KINDS = {"--model": "model", "--task-type": "task_type", "--input-file": "file", "--category": "category"}


@dataclass
class Opt:
    names: list[str]
    takes_value: bool
    metavar: str
    help: str
    choices: list[str] = field(default_factory=list)
    kind: str = ""


@dataclass
class Cmd:
    path: list[str]
    command: Any
    help: str
    short: str
    options: list[Opt]
    arguments: list[tuple[str, str]]
    subcommands: list[str]
    epilog: str

    @property
    def name(self) -> str:
        return " ".join(["piapi", *self.path])

    @property
    def key(self) -> str:
        return " ".join(self.path)


def _root() -> Any:
    from typer.main import get_command

    from piapi_cli.cli.app import app

    return get_command(app)


def _contexts(path: list[str]) -> tuple[Any, Any]:
    root = _root()
    ctx = root.make_context("piapi", [], resilient_parsing=True)
    command = root
    for name in path:
        command = command.get_command(ctx, name)
        ctx = command.make_context(name, [], parent=ctx, resilient_parsing=True)
    return command, ctx


def commands() -> list[Cmd]:
    """Every command of the tree, root first, in the order help lists them."""
    found: list[Cmd] = []

    def visit(path: list[str]) -> None:
        command, ctx = _contexts(path)
        options, arguments = [], []
        for param in command.get_params(ctx):
            if param.param_type_name == "argument":
                label = (param.metavar or param.name or "ARG").upper()
                arguments.append((label, getattr(param, "help", "") or ""))
                continue
            # long names first, whatever order the option was declared in
            names = sorted([*param.opts, *param.secondary_opts], key=lambda n: (not n.startswith("--"), n))
            annotation = getattr(getattr(param, "type_descriptor", None), "annotation", None)
            is_enum = isinstance(annotation, type) and issubclass(annotation, Enum)
            choices = [e.value for e in annotation] if is_enum else []
            long_name = next((n for n in names if n.startswith("--")), names[0])
            metavar = param.metavar or ("|".join(choices) if choices else "VALUE")
            options.append(
                Opt(names, not param.is_flag, metavar, param.help or "", choices, VALUE_KINDS.get(long_name, ""))
            )
        subs = list(command.list_commands(ctx)) if hasattr(command, "list_commands") else []
        found.append(
            Cmd(
                path,
                command,
                (command.help or "").strip(),
                command.get_short_help_str(limit=300),
                options,
                arguments,
                subs,
                command.epilog or "",
            )
        )
        for sub in subs:
            visit([*path, sub])

    visit([])
    return found


def help_text(path: list[str]) -> str:
    command, ctx = _contexts(path)
    text: str = command.get_help(ctx)
    return text + "\n"


# --- cached help ------------------------------------------------------------------


def help_module() -> str:
    lines = [
        '"""Help texts of every command, generated by piapi_cli.cli.docgen: do not edit.',
        "",
        "``piapi --help`` and ``piapi CMD --help`` print these without importing typer.",
        '"""',
        "",
        "HELP = {",
    ]
    for cmd in commands():
        lines.append(f"    {cmd.key!r}: {help_text(cmd.path)!r},")
    lines.append("}")
    return "\n".join(lines) + "\n"


# --- completions ----------------------------------------------------------------------


def _catalog_lists() -> tuple[list[str], dict[str, list[str]]]:
    catalog = load_catalog()
    return list(catalog.models), {name: list(m.task_types) for name, m in catalog.models.items()}


def _value_options(cmds: list[Cmd]) -> list[str]:
    taking: set[str] = set()
    flags: set[str] = set()
    for cmd in cmds:
        for opt in cmd.options:
            (taking if opt.takes_value else flags).update(opt.names)
    clash = taking & flags
    if clash:  # the scripts skip option values by name: a name must mean one thing everywhere
        raise RuntimeError(f"options both flag and valued: {sorted(clash)}")
    return sorted(taking)


def _sh_words(words: list[str]) -> str:
    return " ".join(words).replace("'", "")


def bash_completion() -> str:
    cmds = commands()
    models, types = _catalog_lists()
    value_opts = "|".join(_value_options(cmds))
    out = [
        "# bash completion for piapi, generated from its command tree: do not edit.",
        "# Install: source this file, or copy it to ~/.local/share/bash-completion/completions/piapi",
        "",
        f"_piapi_models='{_sh_words(models)}'",
        "",
        "_piapi_task_types() {",
        '    case "$1" in',
    ]
    for model, names in types.items():
        out.append(f"        '{model}') echo '{_sh_words(names)}' ;;")
    all_types = sorted({t for names in types.values() for t in names})
    out += [
        f"        *) echo '{_sh_words(all_types)}' ;;",
        "    esac",
        "}",
        "",
        "_piapi_options() {",
        '    case "$1" in',
    ]
    for cmd in cmds:
        names = [n for opt in cmd.options for n in opt.names if n.startswith("--")] + ["--help"]
        out.append(f"        '{cmd.key}') echo '{_sh_words(sorted(set(names)))}' ;;")
    out += ["    esac", "}", "", "_piapi_subcommands() {", '    case "$1" in']
    for cmd in cmds:
        if cmd.subcommands:
            out.append(f"        '{cmd.key}') echo '{_sh_words(cmd.subcommands)}' ;;")
    out += [
        "    esac",
        "}",
        "",
        "_piapi() {",
        '    local cur="${COMP_WORDS[COMP_CWORD]}" prev="" path="" model="" i w subs',
        '    [ "$COMP_CWORD" -gt 0 ] && prev="${COMP_WORDS[COMP_CWORD-1]}"',
        "    COMPREPLY=()",
        "    for ((i = 1; i < COMP_CWORD; i++)); do",
        '        w="${COMP_WORDS[i]}"',
        '        case "$w" in',
        '            --model|-m) model="${COMP_WORDS[i+1]}"; i=$((i + 1)); continue ;;',
        f"            {value_opts}) i=$((i + 1)); continue ;;",
        "            -*) continue ;;",
        "        esac",
        '        subs="$(_piapi_subcommands "$path")"',
        '        case " $subs " in',
        '            *" $w "*) path="${path:+$path }$w" ;;',
        "        esac",
        "    done",
        '    case "$prev" in',
        '        --model|-m) COMPREPLY=($(compgen -W "$_piapi_models" -- "$cur")); return ;;',
        '        --task-type|-t) COMPREPLY=($(compgen -W "$(_piapi_task_types "$model")" -- "$cur")); return ;;',
        '        --service-mode) COMPREPLY=($(compgen -W "public private" -- "$cur")); return ;;',
        '        --category|-c) COMPREPLY=($(compgen -W "image video audio 3d" -- "$cur")); return ;;',
        '        --input-file) COMPREPLY=($(compgen -f -- "$cur")); compopt -o filenames 2>/dev/null; return ;;',
        f"        {value_opts}) return ;;",
        "    esac",
        '    if [[ "$cur" == -* ]]; then',
        '        COMPREPLY=($(compgen -W "$(_piapi_options "$path")" -- "$cur"))',
        "        return",
        "    fi",
        '    subs="$(_piapi_subcommands "$path")"',
        '    if [ -n "$subs" ]; then',
        '        COMPREPLY=($(compgen -W "$subs" -- "$cur"))',
        '    elif [ "$path" = models ]; then',
        '        COMPREPLY=($(compgen -W "$_piapi_models" -- "$cur"))',
        "    fi",
        "}",
        "",
        "complete -F _piapi piapi",
    ]
    return "\n".join(out) + "\n"


def zsh_completion() -> str:
    cmds = commands()
    models, types = _catalog_lists()
    value_opts = "|".join(_value_options(cmds))
    out = [
        "#compdef piapi",
        "# zsh completion for piapi, generated from its command tree: do not edit.",
        "# Install: put this file, named _piapi, in a directory of your $fpath, then run compinit.",
        "",
        f"_piapi_models=({_sh_words(models)})",
        "",
        "_piapi_task_types() {",
        '    case "$1" in',
    ]
    for model, names in types.items():
        out.append(f"        '{model}') reply=({_sh_words(names)}) ;;")
    all_types = sorted({t for names in types.values() for t in names})
    out += [f"        *) reply=({_sh_words(all_types)}) ;;", "    esac", "}", ""]
    out += ["_piapi_describe() {", '    case "$1" in']
    for cmd in cmds:
        if cmd.subcommands:
            entries = []
            for sub in cmd.subcommands:
                short = next(c.short for c in cmds if c.path == [*cmd.path, sub])
                entries.append("'" + f"{sub}:{short}".replace("'", "") + "'")
            out.append(f"        '{cmd.key}') reply=({' '.join(entries)}) ;;")
    out += ["        *) reply=() ;;", "    esac", "}", "", "_piapi_options() {", '    case "$1" in']
    for cmd in cmds:
        names = sorted({n for opt in cmd.options for n in opt.names if n.startswith("--")} | {"--help"})
        out.append(f"        '{cmd.key}') reply=({' '.join(names)}) ;;")
    out += [
        "    esac",
        "}",
        "",
        "_piapi() {",
        '    local path="" model="" w i prev="${words[CURRENT-1]}" cur="${words[CURRENT]}"',
        "    local -a reply subs",
        "    for ((i = 2; i < CURRENT; i++)); do",
        '        w="${words[i]}"',
        '        case "$w" in',
        '            --model|-m) model="${words[i+1]}"; i=$((i + 1)); continue ;;',
        f"            {value_opts}) i=$((i + 1)); continue ;;",
        "            -*) continue ;;",
        "        esac",
        '        _piapi_describe "$path"; subs=(${reply%%:*})',
        '        if (( ${subs[(Ie)$w]} )); then path="${path:+$path }$w"; fi',
        "    done",
        '    case "$prev" in',
        "        --model|-m) compadd -a _piapi_models; return ;;",
        '        --task-type|-t) _piapi_task_types "$model"; compadd -a reply; return ;;',
        "        --service-mode) compadd public private; return ;;",
        "        --category|-c) compadd image video audio 3d; return ;;",
        "        --input-file) _files; return ;;",
        f"        {value_opts}) return ;;",
        "    esac",
        '    if [[ "$cur" == -* ]]; then',
        '        _piapi_options "$path"; compadd -a reply; return',
        "    fi",
        '    _piapi_describe "$path"',
        "    if (( ${#reply} )); then",
        "        _describe -t commands 'piapi command' reply",
        '    elif [[ "$path" == models ]]; then',
        "        compadd -a _piapi_models",
        "    fi",
        "}",
        "",
        '_piapi "$@"',
    ]
    return "\n".join(out) + "\n"


def fish_completion() -> str:
    cmds = commands()
    models, types = _catalog_lists()
    out = [
        "# fish completion for piapi, generated from its command tree: do not edit.",
        "# Install: copy this file to ~/.config/fish/completions/piapi.fish",
        "",
        "function __piapi_model",
        "    set -l words (commandline -opc)",
        "    set -l next 0",
        "    for w in $words",
        "        if test $next = 1",
        "            echo $w",
        "            return",
        "        end",
        "        if contains -- $w --model -m",
        "            set next 1",
        "        end",
        "    end",
        "end",
        "",
        "function __piapi_task_types",
        "    switch (__piapi_model)",
    ]
    for model, names in types.items():
        out += [f"        case '{model}'", f"            printf '%s\\n' {_sh_words(names)}"]
    all_types = sorted({t for names in types.values() for t in names})
    out += ["        case '*'", f"            printf '%s\\n' {_sh_words(all_types)}", "    end", "end", ""]
    out.append("complete -c piapi -f")
    top = [c for c in cmds if len(c.path) == 1]
    top_names = " ".join(c.path[0] for c in top)
    for cmd in top:
        out.append(
            f"complete -c piapi -n 'not __fish_seen_subcommand_from {top_names}' -a {cmd.path[0]} "
            f"-d '{_fish_text(cmd.short)}'"
        )
    for cmd in cmds:
        if len(cmd.path) == 2:
            sibling_names = " ".join(c.path[1] for c in cmds if len(c.path) == 2 and c.path[0] == cmd.path[0])
            out.append(
                f"complete -c piapi -n '__fish_seen_subcommand_from {cmd.path[0]}; and not "
                f"__fish_seen_subcommand_from {sibling_names}' -a {cmd.path[1]} -d '{_fish_text(cmd.short)}'"
            )
    for cmd in cmds:
        if not cmd.path:
            condition = f"-n 'not __fish_seen_subcommand_from {top_names}'"
        else:
            condition = f"-n '__fish_seen_subcommand_from {cmd.path[-1]}'"
        for opt in cmd.options:
            parts = [f"complete -c piapi {condition}"]
            for name in opt.names:
                parts.append(f"-l {name[2:]}" if name.startswith("--") else f"-s {name[1:]}")
            if opt.kind == "model":
                parts.append(f"-x -a '{_sh_words(models)}'")
            elif opt.kind == "task_type":
                parts.append("-x -a '(__piapi_task_types)'")
            elif opt.kind == "file":
                parts.append("-r -F")
            elif opt.choices:
                parts.append(f"-x -a '{' '.join(opt.choices)}'")
            elif opt.takes_value:
                parts.append("-x")
            parts.append(f"-d '{_fish_text(opt.help)}'")
            out.append(" ".join(parts))
    out.append(f"complete -c piapi -n '__fish_seen_subcommand_from models' -a '{_sh_words(models)}'")
    return "\n".join(out) + "\n"


def _fish_text(text: str) -> str:
    first = text.split("\n")[0]
    return first.replace("\\", "").replace("'", "")[:90]


COMPLETIONS = {"bash": bash_completion, "zsh": zsh_completion, "fish": fish_completion}
COMPLETION_FILES = {"bash": "piapi.bash", "zsh": "_piapi", "fish": "piapi.fish"}


# --- man pages ----------------------------------------------------------------------------


def _roff(text: str) -> str:
    """Text safe for roff: backslashes, leading dots and quotes escaped."""
    text = text.replace("\\", "\\e")
    lines = []
    for line in text.split("\n"):
        if line.startswith((".", "'")):
            line = "\\&" + line
        lines.append(line)
    return "\n".join(lines)


def _opt_roff(names: list[str]) -> str:
    return ", ".join("\\fB" + n.replace("-", "\\-") + "\\fR" for n in names)


def _split_epilog(epilog: str) -> tuple[list[str], str]:
    examples: list[str] = []
    notes = ""
    if "\b\n" in epilog:
        block, _, rest = epilog.partition("\b\n")[2].partition("\n\n")
        examples = [line[2:] if line.startswith("  ") else line for line in block.split("\n")]
        notes = rest.strip()
    return examples, notes


def man_page(cmd: Cmd, all_cmds: list[Cmd]) -> str:
    title = "-".join(["piapi", *cmd.path]).upper()
    name = "-".join(["piapi", *cmd.path])
    out = [
        f'.TH {title} 1 "" "piapi {__version__}" "piapi manual"',
        ".SH NAME",
        f"{name} \\- {_roff(cmd.short.rstrip('.'))}",
        ".SH SYNOPSIS",
        f".B {cmd.name}",
    ]
    if cmd.options:
        out.append("[\\fIOPTIONS\\fR]")
    if cmd.subcommands:
        out.append("\\fICOMMAND\\fR [\\fIARGS\\fR]...")
    for arg, _ in cmd.arguments:
        out.append(f"\\fI{_roff(arg)}\\fR")
    out += [".SH DESCRIPTION"]
    for para in (cmd.help or cmd.short).split("\n\n"):
        out += [".PP", _roff(" ".join(para.split()))]
    if cmd.arguments:
        out.append(".SH ARGUMENTS")
        for arg, text in cmd.arguments:
            out += [".TP", f"\\fI{_roff(arg)}\\fR", _roff(text or arg)]
    if cmd.options:
        out.append(".SH OPTIONS")
        for opt in cmd.options:
            head = _opt_roff(opt.names)
            if opt.takes_value:
                head += f" \\fI{_roff(opt.metavar)}\\fR"
            out += [".TP", head, _roff(opt.help or "")]
    if cmd.subcommands:
        out.append(".SH COMMANDS")
        for sub in cmd.subcommands:
            child = next(c for c in all_cmds if c.path == [*cmd.path, sub])
            page = "-".join(["piapi", *child.path])
            out += [".TP", f"\\fB{sub}\\fR", f"{_roff(child.short)} See \\fB{page}\\fR(1)."]
    examples, notes = _split_epilog(cmd.epilog)
    if examples:
        out += [".SH EXAMPLES", ".PP", ".nf", ".RS 4"]
        out += [_roff(line) for line in examples]
        out += [".RE", ".fi"]
    if notes and not notes.startswith("Exit codes:"):
        out += [".SH NOTES", ".PP", _roff(notes)]
    out.append(".SH EXIT STATUS")
    for code, meaning in EXIT_CODES:
        out += [".TP", f"\\fB{code}\\fR", _roff(meaning)]
    out.append(".SH ENVIRONMENT")
    for var, meaning in ENVIRONMENT:
        out += [".TP", f"\\fB{var}\\fR", _roff(meaning)]
    out += [
        ".SH FILES",
        ".TP",
        "\\fI~/.config/piapi/config.toml\\fR",
        "Profiles with the API key and settings (mode 0600); the directory follows the platform's "
        "conventions and \\fBPIAPI_CONFIG_DIR\\fR. See \\fBpiapi config path\\fR.",
        ".TP",
        "\\fI~/.local/share/piapi/journal.sqlite3\\fR",
        "The task journal (see \\fBpiapi-tasks\\fR(1)); the directory follows \\fBPIAPI_DATA_DIR\\fR.",
        ".SH SEE ALSO",
    ]
    related = [c for c in all_cmds if c is not cmd and len(c.path) <= 1]
    out.append(", ".join(f"\\fB{'-'.join(['piapi', *c.path])}\\fR(1)" for c in related))
    return "\n".join(out) + "\n"


def man_pages() -> dict[str, str]:
    cmds = commands()
    return {f"{'-'.join(['piapi', *c.path])}.1": man_page(c, cmds) for c in cmds}


# --- writing and checking -----------------------------------------------------------------


def generated(root: Path = ROOT) -> dict[Path, str]:
    from piapi_cli.cli.argspecgen import ARGSPEC_MODULE, argspec_module

    files = {HELP_MODULE: help_module(), ARGSPEC_MODULE: argspec_module()}
    for shell, make in COMPLETIONS.items():
        files[root / "completions" / COMPLETION_FILES[shell]] = make()
    for name, text in man_pages().items():
        files[root / "man" / name] = text
    return files


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    check = "--check" in args
    files = generated()
    stale = [path for path, text in files.items() if not path.exists() or path.read_text("utf-8") != text]
    if check:
        for path in stale:
            print(f"out of date: {path.relative_to(ROOT)}", file=sys.stderr)
        return 1 if stale else 0
    for path in stale:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(files[path], "utf-8")
        print(f"wrote {path.relative_to(ROOT)}")
    for directory in (ROOT / "man",):
        for old in directory.glob("*.1"):
            if old not in files:
                old.unlink()
                print(f"removed {old.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
