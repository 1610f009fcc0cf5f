"""The fish completion script (see completiongen.py for the kinds of values)."""

from __future__ import annotations

from typing import Any

try:
    from tools.completiongen import catalog_lists, words
except ImportError:  # run as a script: tools/ is on the path itself
    from completiongen import catalog_lists, words  # type: ignore[no-redef]


def _text(text: str) -> str:
    return text.split("\n")[0].replace("\\", "").replace("'", "")[:90]


def _value_rule(kind: str, models: list[str]) -> str:
    """How fish completes the value of an option of this kind."""
    if kind == "file":
        return "-r -F"
    if kind == "dir":
        return "-x -a '(__fish_complete_directories (commandline -ct))'"
    if kind == "model":
        return f"-x -a '{words(models)}'"
    if kind == "task_type":
        return "-x -a '(__piapi_task_types)'"
    if kind == "input":
        return "-x -a '(__piapi_at_files)'"
    if kind.startswith("words:"):
        return f"-x -a '{kind[6:]}'"
    return "-x"


def fish(cmds: list[Any], table: dict[str, dict[str, str]]) -> str:
    models, types = catalog_lists()
    out = [
        "# fish completion for piapi, generated from its command tree: do not edit.",
        "# Install: copy this file to ~/.config/fish/completions/piapi.fish",
        "",
        "function __piapi_task_types",
        "    switch (__piapi_state)[3]",
    ]
    for model, names in types.items():
        out += [f"        case 'x{model}'", f"            printf '%s\\n' {words(names)}"]
    all_types = sorted({t for names in types.values() for t in names})
    out += ["        case '*'", f"            printf '%s\\n' {words(all_types)}", "    end", "end", ""]
    out += ["function __piapi_subcommands", "    switch $argv[1]"]
    for cmd in cmds:
        if cmd.subcommands:
            out += [f"        case '{cmd.key}'", f"            printf '%s\\n' {words(cmd.subcommands)}"]
    out += ["    end", "end", "", "function __piapi_kind", '    switch "$argv[1]|$argv[2]"']
    for path, kinds in table.items():
        for name, kind in kinds.items():
            if kind:
                out += [f"        case '{path}|{name}'", f"            echo '{kind}'"]
    out += ["    end", "end", "", *FISH_FUNCTIONS, "", "complete -c piapi -f"]
    for cmd in cmds:
        if cmd.subcommands:
            for sub in cmd.subcommands:
                short = next(c.short for c in cmds if c.path == [*cmd.path, sub])
                out.append(f"complete -c piapi -n \"__piapi_arg '{cmd.key}' 1\" -a {sub} -d '{_text(short)}'")
    for cmd in cmds:
        for opt in cmd.options:
            parts = [f"complete -c piapi -n \"__piapi_in '{cmd.key}'\""]
            for name in opt.names:
                parts.append(f"-l {name[2:]}" if name.startswith("--") else f"-s {name[1:]}")
            kind = table[cmd.key].get(opt.names[0], "")
            if kind:
                parts.append(_value_rule(kind, models))
            parts.append(f"-d '{_text(opt.help)}'")
            out.append(" ".join(parts))
        for key, kind in table[cmd.key].items():
            if key.startswith("#") and not cmd.subcommands:
                rule = _value_rule(kind, models).replace("-x ", "").replace("-r -F", "-F")
                if rule != "-x":
                    out.append(f"complete -c piapi -n \"__piapi_arg '{cmd.key}' {key[1:]}\" {rule}")
    return "\n".join(out) + "\n"


FISH_FUNCTIONS = r"""# the command path, the number of arguments so far, the model on the line (each after an x),
# and the kind of option value being completed, if one is
function __piapi_state
    set -l line (commandline -pc)
    if test "$__piapi_line" = "$line"
        printf '%s\n' $__piapi_cache
        return
    end
    set -l words (commandline -opc)
    set -l path ''
    set -l n 0
    set -l model ''
    set -l kind ''
    set -l i 2
    while test $i -le (count $words)
        set -l w $words[$i]
        if string match -qr -- '^-.' $w
            if not string match -q -- '*=*' $w
                set -l k (__piapi_kind $path $w)
                test -n "$k"; or set k (__piapi_kind '' $w)
                if test -n "$k"
                    if test $i -eq (count $words)
                        set kind $k
                    else
                        test "$k" = model; and set model $words[(math $i + 1)]
                        set i (math $i + 1)
                    end
                end
            end
        else if test $n -eq 0; and contains -- $w (__piapi_subcommands $path)
            set path (string trim -- "$path $w")
        else
            set n (math $n + 1)
        end
        set i (math $i + 1)
    end
    set -g __piapi_line $line
    set -g __piapi_cache x$path x$n x$model x$kind
    printf '%s\n' $__piapi_cache
end

# true in the command PATH (any of its options)
function __piapi_in
    test (__piapi_state)[1] = "x$argv[1]"
end

# true where argument N of PATH goes (N: a number, or * for any further), no option value pending
function __piapi_arg
    set -l state (__piapi_state)
    test $state[1] = "x$argv[1]"; and test $state[4] = x; or return 1
    set -l next (math (string sub -s 2 -- $state[2]) + 1)
    if test "$argv[2]" = '*'
        return 0
    end
    test $next -eq $argv[2]; and not string match -q -- '-*' (commandline -ct)
end

# -i key=@PATH: names on disk after =@
function __piapi_at_files
    set -l token (commandline -ct)
    string match -q -- '*=@*' $token; or return
    set -l head (string replace -r '=@.*' '=@' -- $token)
    for f in (__fish_complete_path (string replace -r '^.*?=@' '' -- $token))
        echo $head$f
    end
end""".split("\n")
