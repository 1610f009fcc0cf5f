"""piapi completion: print a shell completion script."""

from __future__ import annotations

import enum

from piapi_cli.cli.commands._options import examples
from piapi_cli.cli.completions import FILES
from piapi_cli.cli.parsing import params
from piapi_cli.cli.parsing.params import Annotated

EPILOG = examples(
    "mkdir -p ~/.local/share/bash-completion/completions",
    "piapi completion bash > ~/.local/share/bash-completion/completions/piapi",
    "mkdir -p ~/.zfunc && piapi completion zsh > ~/.zfunc/_piapi",
    "mkdir -p ~/.config/fish/completions",
    "piapi completion fish > ~/.config/fish/completions/piapi.fish",
    notes="The scripts are static: TAB never starts Python or touches the network. They complete "
    "commands, options, models, task types, paths and each option's values. zsh: ~/.zfunc must be "
    "on $fpath (fpath+=(~/.zfunc) before compinit in ~/.zshrc).",
)


#: bash, zsh, fish: the shells a script is shipped for
Shell = enum.Enum("Shell", {name: name for name in FILES}, type=str)  # type: ignore[misc]


def completion(
    shell: Annotated[Shell, params.Argument(metavar="SHELL", help=", ".join(FILES), show_default=False)],
) -> None:
    """Print the completion script for a shell (commands, options, models, task types)."""
    import sys

    from piapi_cli.cli.completions import script

    # the same bytes the fast path of the entry point writes (``piapi completion bash``)
    sys.stdout.write(script(shell.value).decode("utf-8"))
