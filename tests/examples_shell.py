"""The example lines of the README and of every command's help, and a small shell to run them.

The shell knows what the examples use: ``$VAR``/``"$VAR"``, ``VAR=$(...)`` and ``"$(...)"``,
``A && B``, ``echo X |``/``printf %s X |`` into piapi, ``| head``/``| sudo tee`` after it,
redirections, ``VAR=value piapi ...``, comments, ``\\`` line continuations and a trailing ``&``.
Each ``piapi`` it meets runs through a function the test gives (the entry point); every other
program (``python3``, ``man``, ``$EDITOR``) is left out.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from piapi_cli.cli.parsing._helptext import HELP

ROOT = Path(__file__).resolve().parent.parent

#: a placeholder of a usage synopsis (``piapi get TASK_ID... [--json]``): such a line is no example
_PLACEHOLDER = re.compile(r"^(\[.*|.*\.\.\.\]?|[A-Z][A-Z_]*(\.\.\.)?)$")
_SEPARATORS = ("&&", "||", ";", "&")


def readme_examples() -> list[tuple[str, str]]:
    """Every command line of the README's ``sh`` blocks that mentions piapi: (where, line)."""
    found: list[tuple[str, str]] = []
    inside, chunk = False, []
    for number, line in enumerate((ROOT / "README.md").read_text("utf-8").splitlines(), 1):
        if line.startswith("```"):
            if inside:
                found += [(f"README.md:{n}", text) for n, text in _numbered(chunk)]
            inside, chunk = line.strip() == "```sh" and not inside, []
        elif inside:
            chunk.append((number, line))
    return [(where, text) for where, text in found if "piapi" in _code(text)]


def _numbered(chunk: list[tuple[int, str]]) -> Iterator[tuple[int, str]]:
    start, pending = 0, ""
    for number, line in chunk:
        start = start or number
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        yield start, (pending + line).strip()
        start, pending = 0, ""


def help_examples() -> list[tuple[str, str]]:
    """Every line of the Examples section of every command's help: (where, line)."""
    found = []
    for path, text in HELP.items():
        if "Examples:\n\n" not in text:
            continue
        section = text.split("Examples:\n\n", 1)[1].split("\n\n", 1)[0]
        lines = list(enumerate(section.splitlines(), 1))
        found += [(f"piapi {path} --help".replace("  ", " "), line) for _, line in _numbered(lines)]
    return found


def _code(line: str) -> str:
    """The line without its comment."""
    try:
        return " ".join(shlex.split(line, comments=True))
    except ValueError:
        return line


def is_synopsis(argv: list[str]) -> bool:
    """A usage line with placeholders (``get TASK_ID... [--json]``), not an example."""
    return any(_PLACEHOLDER.match(word) for word in argv)


@dataclass
class Run:
    argv: list[str]
    stdin: str | None
    env: dict[str, str]


@dataclass
class Shell:
    """Runs example lines: ``piapi`` through ``run(argv, stdin, env) -> (exit code, stdout)``."""

    run: Callable[[Run], tuple[int, str]]
    variables: dict[str, str]
    #: lines of piapi that run until stopped (a server): not run here, handed back
    blocking: Callable[[list[str]], bool]
    held: list[list[str]] = field(default_factory=list)
    ran: list[Run] = field(default_factory=list)

    def line(self, text: str) -> None:
        text = self._substituted(text)
        lexer = shlex.shlex(text, posix=True, punctuation_chars=";&|<>")
        lexer.whitespace_split = True
        tokens = list(lexer)
        command: list[str] = []
        for token in [*tokens, ";"]:
            if token in _SEPARATORS:
                if command:
                    self._pipeline(command)
                command = []
            else:
                command.append(token)

    def output_of(self, text: str) -> str:
        """What ``$(text)`` gives: the stdout of its pipeline, without trailing newlines."""
        lexer = shlex.shlex(self._substituted(text), posix=True, punctuation_chars=";&|<>")
        lexer.whitespace_split = True
        return self._pipeline(list(lexer)).rstrip("\n")

    def _substituted(self, text: str) -> str:
        """``$(...)`` replaced by a variable holding its output; every ``$VAR`` by its value."""
        while "$(" in text:
            start = text.index("$(")
            depth, end = 0, start + 1
            for end in range(start + 1, len(text)):
                depth += {"(": 1, ")": -1}.get(text[end], 0)
                if depth == 0:
                    break
            name = f"SUBSTITUTED_{len(self.variables)}"
            self.variables[name] = self.output_of(text[start + 2 : end])
            text = text[:start] + "${" + name + "}" + text[end + 1 :]

        def value(match: re.Match[str]) -> str:
            name = match.group(1) or match.group(2)
            assert name in self.variables, f"an example uses ${name}: give it a value in the test"
            found = self.variables[name]
            assert re.fullmatch(r"[\w.:/@%+=,-]*", found), f"${name} = {found!r} would need quoting"
            return found

        return re.sub(r"\$\{(\w+)\}|\$([A-Za-z_]\w*)", value, text)

    def _pipeline(self, tokens: list[str]) -> str:
        stdin: str | None = None
        for command in _split(tokens, "|"):
            words, env = _simple(command)
            if not words:
                self.variables.update(env)
                stdin = ""
                continue
            program = words[0]
            if program == "echo":
                stdin = " ".join(words[1:]) + "\n"
            elif program == "printf":
                stdin = words[2] if words[1:2] == ["%s"] else words[1]
            elif program == "piapi" or program.endswith("/piapi"):
                argv = words[1:]
                if self.blocking(argv):
                    self.held.append(argv)
                    stdin = "http://127.0.0.1:8787\n"  # what a server prints first: its address
                    continue
                run = Run(argv, stdin, env)
                self.ran.append(run)
                _, stdin = self.run(run)
            # other programs (head, tee, python3, man, $EDITOR) pass what they get along
        return stdin or ""


def _split(tokens: list[str], separator: str) -> list[list[str]]:
    parts: list[list[str]] = [[]]
    for token in tokens:
        if token == separator:
            parts.append([])
        else:
            parts[-1].append(token)
    return [part for part in parts if part]


def _simple(tokens: list[str]) -> tuple[list[str], dict[str, str]]:
    """A simple command's words, without redirections, and its ``NAME=value`` prefix."""
    env: dict[str, str] = {}
    words: list[str] = []
    skip = False
    for token in tokens:
        if skip:
            skip = False
        elif token in (">", ">>", "<"):
            skip = True
        elif not words and re.fullmatch(r"[A-Za-z_]\w*=.*", token):
            name, _, value = token.partition("=")
            env[name] = value
        else:
            words.append(token)
    return words, env
