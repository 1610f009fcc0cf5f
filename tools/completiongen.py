"""The bash, zsh and fish completion scripts, generated from the command tree (run by
tools/docgen.py, which writes them to completions/ and into the package).

Each script knows, per command path, what every option and argument takes (its *kind*), so a
short option means what it means in that command only (``batch run -c`` is --concurrency and
completes nothing, ``models -c`` is --category and completes categories):

- ``file`` / ``dir``: names on disk (``batch run FILE``, ``--input-file``, ``--output``, ``--dir``)
- ``input``: ``-i key=@PATH`` completes the PATH after ``=@``
- ``model`` / ``task_type``: the catalog's models, the task types of the model on the line
- ``words:A B C``: a fixed list (choices, shells, setting names, statuses, ``--by`` fields)
- ``value``: takes a value, nothing to offer

The scripts are static: TAB never starts Python and never touches the network.
"""

from __future__ import annotations

from typing import Any

from piapi_cli.api import tasks as api_tasks
from piapi_cli.core import settings
from piapi_cli.core.catalog import load_catalog
from piapi_cli.core.journal import image_calls
from piapi_cli.core.journal.entries import LOCAL_STATES
from piapi_cli.sandbox.trigger import STATUS_WORDS

#: what the API reports a task as; the journal knows a few states of its own besides
API_STATUSES = [api_tasks.PENDING, api_tasks.STAGED, api_tasks.PROCESSING, api_tasks.COMPLETED, api_tasks.FAILED,
                api_tasks.CANCELLED]  # fmt: skip
JOURNAL_STATUSES = API_STATUSES + sorted(LOCAL_STATES)
SETTING_NAMES = list(settings.SETTINGS)

#: values that no declaration in the tree spells out, by (command path, option or #N for the
#: Nth argument); tests/test_completions.py runs each value through its command
VALUES: dict[tuple[str, str], list[str]] = {
    ("tasks", "--status"): JOURNAL_STATUSES,
    ("report", "--status"): JOURNAL_STATUSES,
    ("trigger", "--status"): list(dict.fromkeys(STATUS_WORDS.values())),
    ("tasks usage", "--by"): ["model", "task_type", "day", "status", "world"],
    ("tasks", "--world"): ["all", "sandbox"],
    ("tasks usage", "--world"): ["all", "sandbox"],
    ("tasks images", "--status"): [image_calls.COMPLETED, image_calls.FAILED, image_calls.UNKNOWN, image_calls.SENDING],
    ("tasks images", "--world"): ["all", "sandbox"],
    ("config set", "#1"): SETTING_NAMES,
    ("config unset", "#1"): SETTING_NAMES,
}
#: kinds by option name, in every command that has the option
BY_NAME = {"--model": "model", "--task-type": "task_type", "--input": "input"}
#: an option or argument whose metavar names a file or a directory takes a path
PATH_METAVARS = {"FILE": "file", "DIR": "dir", "DIR|FILE.html": "file"}


def _kind(path: str, param: Any) -> str:
    """What a parameter's value is, for completion: a kind (see the module's docstring), or
    "" for a flag."""
    if param.param_type_name == "option" and param.is_flag:
        return ""
    names = [*param.opts] if param.param_type_name == "option" else []
    for name in names:
        if (path, name) in VALUES:
            return "words:" + " ".join(VALUES[path, name])
    long_name = next((n for n in names if n.startswith("--")), "")
    if long_name in BY_NAME:
        return BY_NAME[long_name]
    choices = getattr(param.type, "choices", None)
    if choices:
        return "words:" + " ".join(str(getattr(c, "value", c)) for c in choices)
    metavar = (param.metavar or "").strip("[]").removesuffix("...")
    if metavar == "MODEL":  # (models MODEL)
        return "model"
    if metavar in PATH_METAVARS:
        return PATH_METAVARS[metavar]
    return "value"


def table(tree: list[tuple[str, Any, Any]]) -> dict[str, dict[str, str]]:
    """Every command path ("" the root) and the kind of each option name and argument (#N),
    from the tree's (path, command, context) triples."""
    found: dict[str, dict[str, str]] = {}
    for path, command, ctx in tree:
        kinds: dict[str, str] = {}
        position = 0
        for param in command.get_params(ctx):
            if param.param_type_name == "argument":
                position += 1
                key = f"#{position}"
                given = VALUES.get((path, key))
                kind = "words:" + " ".join(given) if given else _kind(path, param)
                kinds[key] = kind
                if param.nargs == -1:
                    kinds["#*"] = kind  # every argument from here on
                continue
            kind = _kind(path, param)
            for name in [*param.opts, *param.secondary_opts]:
                if name != "--help":
                    kinds[name] = kind if name in param.opts else ""  # --no-x: a flag
        found[path] = kinds
    missing = {key for key in VALUES if key[1] not in found.get(key[0], {})}
    if missing:
        raise RuntimeError(f"completion values for options no command has: {sorted(missing)}")
    return found


def catalog_lists() -> tuple[list[str], dict[str, list[str]]]:
    catalog = load_catalog()
    return list(catalog.models), {name: list(m.task_types) for name, m in catalog.models.items()}


def words(items: list[str]) -> str:
    """Words safe inside single quotes."""
    return " ".join(items).replace("'", "")


def _cases(table: dict[str, dict[str, str]], indent: str, emit: Any) -> list[str]:
    """``case`` lines of a shell: every (path, option) of the same kind in one pattern."""
    by_kind: dict[tuple[str, str], list[str]] = {}
    for path, kinds in table.items():
        for name, kind in kinds.items():
            if kind:
                by_kind.setdefault((path, kind), []).append(f"{path}|{name}")
    return [emit(indent, keys, kind) for (_, kind), keys in by_kind.items()]


# --- bash ---------------------------------------------------------------------------------


def bash(cmds: list[Any], table: dict[str, dict[str, str]]) -> str:
    models, types = catalog_lists()
    out = [
        "# bash completion for piapi, generated from its command tree: do not edit.",
        "# Install: copy to ~/.local/share/bash-completion/completions/piapi (or source it)",
        "",
        f"_piapi_models='{words(models)}'",
        "",
        "_piapi_task_types() {",
        '    case "$1" in',
        *[f"        '{model}') echo '{words(names)}' ;;" for model, names in types.items()],
        f"        *) echo '{words(sorted({t for names in types.values() for t in names}))}' ;;",
        "    esac",
        "}",
        "",
        "_piapi_subcommands() {",
        '    case "$1" in',
        *[f"        '{c.key}') echo '{words(c.subcommands)}' ;;" for c in cmds if c.subcommands],
        "    esac",
        "}",
        "",
        "_piapi_options() {",
        '    case "$1" in',
    ]
    for cmd in cmds:
        names = sorted({n for opt in cmd.options for n in opt.names if n.startswith("--")} | {"--help"})
        out.append(f"        '{cmd.key}') echo '{words(names)}' ;;")
    out += [
        "    esac",
        "}",
        "",
        "# what follows option $2 (or is argument #N, #* for any further) of the command path $1:",
        "# model, task_type, file, dir, input (-i key=@PATH), words:LIST or value; nothing for a flag",
        "_piapi_kind() {",
        '    case "$1|$2" in',
        *_cases(table, "        ", lambda i, keys, kind: f"{i}{'|'.join(repr(k) for k in keys)}) echo '{kind}' ;;"),
        "    esac",
        "}",
        "",
        *BASH_FUNCTIONS,
    ]
    return "\n".join(out) + "\n"


BASH_FUNCTIONS = r"""# the words up to the cursor, with what COMP_WORDBREAKS split (key=@PATH, --name=value) joined
_piapi_words() {
    local i w last
    _piapi_w=()
    for ((i = 0; i <= COMP_CWORD; i++)); do
        w="${COMP_WORDS[i]}"
        last=""
        ((${#_piapi_w[@]})) && last="${_piapi_w[${#_piapi_w[@]}-1]}"
        if ((i > 1)) && [[ "$w" =~ ^[=@:]+$ || ( "$last" =~ [=@:]$ && "$last" != -* ) ]]; then
            _piapi_w[${#_piapi_w[@]}-1]+="$w"
        else
            _piapi_w+=("$w")
        fi
    done
}

# -i key=@PATH: names on disk after =@ (bash's own word may start at = or @)
_piapi_at_file() {
    [[ "$1" == *=@* ]] || return
    local head="${1%%=@*}=@" part="${COMP_WORDS[COMP_CWORD]}" f full keep
    keep=$((${#1} - ${#part}))
    compopt -o filenames 2>/dev/null
    while IFS= read -r f; do
        full="$head$f"
        COMPREPLY+=("${full:keep}")
    done < <(compgen -f -- "${1#*=@}")
}

_piapi_complete() {
    local f
    case "$1" in
        model) COMPREPLY=($(compgen -W "$_piapi_models" -- "$2")) ;;
        task_type) COMPREPLY=($(compgen -W "$(_piapi_task_types "$3")" -- "$2")) ;;
        file|dir)
            compopt -o filenames 2>/dev/null
            while IFS= read -r f; do COMPREPLY+=("$f"); done < <(compgen "-${1:0:1}" -- "$2") ;;
        input) _piapi_at_file "$2" ;;
        words:*) COMPREPLY=($(compgen -W "${1#words:}" -- "$2")) ;;
    esac
}

_piapi() {
    local path="" model="" cur w i last kind="" n=0 subs
    local -a _piapi_w
    _piapi_words
    last=$((${#_piapi_w[@]} - 1))
    cur="${_piapi_w[last]}"
    COMPREPLY=()
    for ((i = 1; i < last; i++)); do
        w="${_piapi_w[i]}"
        if [[ "$w" == -?* ]]; then
            [[ "$w" == *=* ]] && continue
            kind="$(_piapi_kind "$path" "$w")"
            [ -n "$kind" ] || kind="$(_piapi_kind "" "$w")"
            if [ -n "$kind" ]; then
                ((i + 1 == last)) && break
                [ "$kind" = model ] && model="${_piapi_w[i+1]}"
                i=$((i + 1))
            fi
            kind=""
            continue
        fi
        subs=" $(_piapi_subcommands "$path") "
        if [ "$n" = 0 ] && [[ "$subs" == *" $w "* ]]; then
            path="${path:+$path }$w"
        else
            n=$((n + 1))
        fi
    done
    if [ -z "$kind" ]; then
        if [[ "$cur" == -* ]]; then
            COMPREPLY=($(compgen -W "$(_piapi_options "$path")" -- "$cur"))
            return
        fi
        subs="$(_piapi_subcommands "$path")"
        if [ -n "$subs" ] && [ "$n" = 0 ]; then
            COMPREPLY=($(compgen -W "$subs" -- "$cur"))
            return
        fi
        kind="$(_piapi_kind "$path" "#$((n + 1))")"
        [ -n "$kind" ] || kind="$(_piapi_kind "$path" "#*")"
    fi
    _piapi_complete "$kind" "$cur" "$model"
}

complete -F _piapi piapi""".split("\n")


# --- zsh ----------------------------------------------------------------------------------


def zsh(cmds: list[Any], table: dict[str, dict[str, str]]) -> str:
    models, types = catalog_lists()
    out = [
        "#compdef piapi",
        "# zsh completion for piapi, generated from its command tree: do not edit.",
        "# Install: put this file, named _piapi, in a directory of your $fpath, then run compinit.",
        "",
        f"_piapi_models=({words(models)})",
        "",
        "_piapi_task_types() {",
        '    case "$1" in',
        *[f"        '{model}') reply=({words(names)}) ;;" for model, names in types.items()],
        f"        *) reply=({words(sorted({t for names in types.values() for t in names}))}) ;;",
        "    esac",
        "}",
        "",
        "_piapi_describe() {",
        '    case "$1" in',
    ]
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
        "# what follows option $2 (or is argument #N, #* for any further) of the command path $1, in",
        "# REPLY: model, task_type, file, dir, input (-i key=@PATH), words:LIST or value; empty for a flag",
        "_piapi_kind() {",
        '    case "$1|$2" in',
        *_cases(table, "        ", lambda i, keys, kind: f"{i}{'|'.join(repr(k) for k in keys)}) REPLY='{kind}' ;;"),
        "        *) REPLY='' ;;",
        "    esac",
        "}",
        "",
        *ZSH_FUNCTIONS,
    ]
    return "\n".join(out) + "\n"


ZSH_FUNCTIONS = r"""_piapi() {
    local path="" model="" w i n=0 kind="" cur="${words[CURRENT]}" REPLY
    local -a reply subs
    for ((i = 2; i < CURRENT; i++)); do
        w="${words[i]}"
        if [[ "$w" == -?* ]]; then
            [[ "$w" == *=* ]] && continue
            _piapi_kind "$path" "$w"
            [[ -n "$REPLY" ]] || _piapi_kind "" "$w"
            if [[ -n "$REPLY" ]]; then
                if ((i + 1 == CURRENT)); then kind="$REPLY"; break; fi
                [[ "$REPLY" == model ]] && model="${words[i+1]}"
                i=$((i + 1))
            fi
            continue
        fi
        _piapi_describe "$path"; subs=(${reply%%:*})
        if ((n == 0 && ${subs[(Ie)$w]})); then path="${path:+$path }$w"; else n=$((n + 1)); fi
    done
    if [[ -z "$kind" ]]; then
        if [[ "$cur" == -* ]]; then
            _piapi_options "$path"; compadd -a reply; return
        fi
        _piapi_describe "$path"
        if ((n == 0 && ${#reply})); then
            _describe -t commands 'piapi command' reply; return
        fi
        _piapi_kind "$path" "#$((n + 1))"
        [[ -n "$REPLY" ]] || _piapi_kind "$path" "#*"
        kind="$REPLY"
    fi
    case "$kind" in
        model) compadd -a _piapi_models ;;
        task_type) _piapi_task_types "$model"; compadd -a reply ;;
        file) _files ;;
        dir) _files -/ ;;
        input) compset -P '*=@' && _files ;;
        words:*) compadd -- ${=${kind#words:}} ;;
    esac
}

_piapi "$@"
""".rstrip("\n").split("\n")
