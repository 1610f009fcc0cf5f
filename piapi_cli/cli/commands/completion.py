"""piapi completion: print a shell completion script."""

from __future__ import annotations

import enum
from typing import Annotated

from piapi_cli.cli import params
from piapi_cli.cli.commands._options import examples

EPILOG = examples(
    "piapi completion bash > ~/.local/share/bash-completion/completions/piapi",
    "piapi completion zsh > ~/.zfunc/_piapi",
    "piapi completion fish > ~/.config/fish/completions/piapi.fish",
    notes="The scripts are static: TAB never starts Python or touches the network. "
    "They match the files in the completions/ folder of the source.",
)


class Shell(str, enum.Enum):
    bash = "bash"
    zsh = "zsh"
    fish = "fish"


def completion(
    shell: Annotated[Shell, params.Argument(metavar="SHELL", help="bash, zsh or fish", show_default=False)],
) -> None:
    """Print the completion script for a shell (commands, options, models, task types)."""
    import sys

    from piapi_cli.cli.docgen import COMPLETIONS

    sys.stdout.write(COMPLETIONS[shell.value]())
