"""One error tree for the whole library, and the exit code each error maps to.

The CLI turns an error into an exit code in exactly one place (``exit_code_for``);
the library raises these and never exits.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

TYPE_CHECKING = False  # typing is a slow import: its names are for type checkers only
if TYPE_CHECKING:
    from typing import Any


class ExitCode(enum.IntEnum):
    """piapi's exit statuses; each has a ``label`` (help texts) and a ``description`` (README, man)."""

    OK = 0
    INTERNAL = 1
    USAGE = 2
    AUTH = 3
    API_REFUSED = 4
    NETWORK = 5
    RATE_LIMITED = 6
    TASK_FAILED = 7
    WAIT_TIMEOUT = 8
    DOWNLOAD_FAILED = 9
    LOCAL_WRITE = 10
    OUTPUT_FAILED = 11
    STREAM_CUT = 12
    INTERRUPTED = 130
    CLOSED_PIPE = 141

    @property
    def label(self) -> str:
        """A few words, for the exit code list at the end of ``piapi --help``."""
        return _EXIT_CODE_TEXTS[self][0]

    @property
    def description(self) -> str:
        """One line, for the README's table and the man pages."""
        return _EXIT_CODE_TEXTS[self][1]


# The one place where exit codes are explained: help, README and man pages are generated from it.
_EXIT_CODE_TEXTS: dict[ExitCode, tuple[str, str]] = {
    ExitCode.OK: ("ok", "success"),
    ExitCode.INTERNAL: ("internal error", "unexpected internal error (run with --debug for the traceback)"),
    ExitCode.USAGE: (
        "usage or invalid input",
        "usage error or invalid input, a --jq filter failing on what a read fetched among them; nothing was "
        "sent that creates or costs",
    ),
    ExitCode.AUTH: (
        "auth or config",
        "authentication or configuration: no key, 401, 403, an unreadable config file, an invalid setting",
    ),
    ExitCode.API_REFUSED: ("API refused", "the API refused the request: 400, 404 and other 4xx"),
    ExitCode.NETWORK: (
        "network or server",
        "network or server failure after retries: connection, timeout, 5xx, malformed response (an HTML proxy "
        "page); for a create, the task may exist and was not resent",
    ),
    ExitCode.RATE_LIMITED: ("rate limited", "rate limited after retries (429)"),
    ExitCode.TASK_FAILED: (
        "task failed",
        "the task finished as failed or cancelled (ahead of 8 when others ran out of time)",
    ),
    ExitCode.WAIT_TIMEOUT: (
        "wait timed out",
        "the wait deadline passed while the task still runs; its ID is printed, it is not cancelled",
    ),
    ExitCode.DOWNLOAD_FAILED: ("download failed", "the task completed but an output could not be downloaded"),
    ExitCode.LOCAL_WRITE: (
        "local write failed",
        "partly done: a local write failed (a full disk, a read-only directory, the journal); every task ID the "
        "server returned is on stdout, partial downloads are kept for resuming",
    ),
    ExitCode.OUTPUT_FAILED: (
        "sent; output step failed",
        "the command created a task (its ID is printed on stdout all the same) or an image, but a step on the "
        "answer failed, such as a --jq filter that fails on it; commands that create nothing exit 2 there",
    ),
    ExitCode.STREAM_CUT: (
        "answer cut short",
        "a streamed answer (chat) stopped before its end: the server cut the stream or reported an error "
        "in it, or its text passed 16 MiB; what arrived was printed",
    ),
    ExitCode.INTERRUPTED: (
        "interrupted",
        "interrupted (Ctrl-C; SIGTERM exits 143, SIGHUP 129): the IDs of tasks created or waited on and the "
        "command that resumes are printed to stderr",
    ),
    ExitCode.CLOSED_PIPE: (
        "stdout closed",
        "the reader of stdout went away before piapi wrote all it had (piapi models --json piped into a reader "
        "that reads nothing, such as true; head -1 may read it all first): nothing more is printed and no "
        "error, except that the tasks created are named on stderr; what a shell reports for SIGPIPE",
    ),
}


class PiapiError(Exception):
    """Base of every error piapi raises on purpose."""

    exit_code: ExitCode = ExitCode.INTERNAL
    #: an extra line telling the user what to do next, shown under the message
    hint: str | None = None
    #: what the error is about, for callers to act on (the CLI writes its advice from these)
    task_id: str | None = None
    path: str | None = None
    status: str | None = None
    #: the input at fault, by its parameter's name (``matrix``, ``run_id``); a message about it
    #: starts with that name, which the CLI shows as the option's flag (``--run-id``)
    option: str | None = None
    #: the setting at fault (``base_url``)
    setting: str | None = None
    #: what to do next, as a key of the CLI's advice (``cli.hints.ADVICE``): advice that names a
    #: flag or a command is written by the CLI, from this key and the fields above
    advice: str | None = None

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        task_id: str | None = None,
        path: str | None = None,
        status: str | None = None,
        option: str | None = None,
        setting: str | None = None,
        advice: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if hint is not None:
            self.hint = hint
        self.task_id, self.path, self.status = task_id, path, status
        self.option, self.setting, self.advice = option, setting, advice


class UsageError(PiapiError):
    """Bad arguments or input; nothing was sent."""

    exit_code = ExitCode.USAGE


class ValidationError(UsageError):
    """An input failed the catalog's checks; nothing was sent."""

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        suggestion: str | None = None,
        hint: str | None = None,
        advice: str | None = None,
        model: str | None = None,
        task_type: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint, advice=advice)
        #: the input (or ``model``, ``task_type``) at fault
        self.field = field
        #: the known name it is probably a typo of
        self.suggestion = suggestion
        #: the model and task type whose schema refused it
        self.model, self.task_type = model, task_type


class Note(str):
    """A warning's text, and the advice the CLI adds to it (a key of ``cli.hints.ADVICE``)."""

    advice: str | None
    #: what the advice is about (``event_id=3``)
    fields: dict[str, object]

    def __new__(cls, text: str, advice: str | None = None, **fields: object) -> Note:
        note = super().__new__(cls, text)
        note.advice, note.fields = advice, fields
        return note


class ConfigError(PiapiError):
    """No API key, a config file that cannot be read or written, or an invalid setting."""

    exit_code = ExitCode.AUTH


# --- the request failed -------------------------------------------------------


class RequestError(PiapiError):
    """A request to the API did not succeed."""

    exit_code = ExitCode.NETWORK


class APIStatusError(RequestError):
    """The API answered with an error status."""

    exit_code = ExitCode.API_REFUSED

    #: the API's own message, when the answer was its JSON envelope ("" otherwise)
    api_message: str = ""
    #: seconds the server asked to wait (429), if it said
    retry_after: float | None = None
    #: the task object an error answer still carried (``data.task_id``), if any
    task: dict[str, Any] | None = None

    def __init__(self, message: str, *, status_code: int, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.status_code = status_code


class AuthenticationError(APIStatusError):
    """401 or 403: the key is missing, wrong, or lacks the plan for this call."""

    exit_code = ExitCode.AUTH


class NotFoundError(APIStatusError):
    """404: no such task (or endpoint)."""


class RateLimitError(APIStatusError):
    """429, still after the retries."""

    exit_code = ExitCode.RATE_LIMITED


class ServerError(APIStatusError):
    """5xx, still after the retries."""

    exit_code = ExitCode.NETWORK


class ConnectionFailed(RequestError):
    """The connection failed, dropped or timed out, still after the retries."""


class MalformedResponse(RequestError):
    """The answer was not the API's JSON envelope (an HTML proxy page, an empty body...)."""


class CreateOutcomeUnknown(RequestError):
    """A create request may have reached PiAPI but its answer never arrived.

    It is never resent: a second create would be a second paid task.
    """

    #: the journal's row that keeps the request (``piapi tasks show '#ROW'``), when journaled
    journal_row: int | None = None
    #: the journaled image call the answer was lost of (``piapi tasks images show ID``)
    image_call: str | None = None


class StreamCut(RequestError):
    """A streamed answer ended before its end mark (``data: [DONE]`` or a finish reason).

    ``received`` holds the text that arrived; the request is never resent (it was carried out).
    """

    exit_code = ExitCode.STREAM_CUT
    #: the journal's conversation that keeps what arrived, when journaled
    conversation: int | None = None

    def __init__(self, message: str, *, received: str = "", hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.received = received


class StreamFailed(StreamCut):
    """The server sent an error object in the middle of a streamed answer."""


class AnswerTooLong(StreamCut):
    """A streamed answer's text would pass the most piapi takes of one (``MAX_ANSWER`` of the
    routes' client): it stopped reading there, and holds no more than that."""


# --- the task failed ----------------------------------------------------------


class TaskFailed(PiapiError):
    """The task reached ``failed`` (or was cancelled)."""

    exit_code = ExitCode.TASK_FAILED


class WaitTimeout(PiapiError):
    """The wait deadline passed while the task was still running."""

    exit_code = ExitCode.WAIT_TIMEOUT


class LocalWriteError(PiapiError):
    """A file or the journal could not be written here (a full disk, no permission); what was
    sent is not lost: its task IDs were printed, partial downloads kept."""

    exit_code = ExitCode.LOCAL_WRITE


class OutputStepFailed(PiapiError):
    """The request was carried out but a step on its answer failed (a ``--jq`` filter);
    ``task_ids``: the tasks it created, which the caller prints to stdout all the same."""

    exit_code = ExitCode.OUTPUT_FAILED
    task_ids: tuple[str, ...] = ()


class DownloadError(PiapiError):
    """The task completed but an output could not be downloaded."""

    exit_code = ExitCode.DOWNLOAD_FAILED


#: When one command has several outcomes (many tasks, a batch run, a task and its downloads),
#: it exits with the first of these that happened: the worst first, and "the deadline passed,
#: run it again" (8) after every other failure, as it is the one a rerun settles by itself.
EXIT_PRECEDENCE: tuple[ExitCode, ...] = (
    *sorted((c for c in ExitCode if c not in (ExitCode.OK, ExitCode.WAIT_TIMEOUT)), reverse=True),
    ExitCode.WAIT_TIMEOUT,
    ExitCode.OK,
)


def combine_exit_codes(codes: Iterable[ExitCode | int]) -> ExitCode:
    """The exit code of a run of many outcomes (``EXIT_PRECEDENCE``): the one function every
    command that has several (create, wait, download, get, cancel, batch, compare) uses."""
    present = {ExitCode(code) for code in codes}
    return next((code for code in EXIT_PRECEDENCE if code in present), ExitCode.OK)


def exit_code_for(exc: BaseException) -> ExitCode:
    """The exit code for any exception: the single mapping used by the CLI."""
    if isinstance(exc, PiapiError):
        return exc.exit_code
    if isinstance(exc, KeyboardInterrupt):
        return ExitCode.INTERRUPTED
    return ExitCode.INTERNAL


def error_for_status(status: int, message: str) -> APIStatusError:
    """The error for an API's answer with this status."""
    if status in (401, 403):
        error = AuthenticationError(message, status_code=status)
        error.advice = "set_key" if status == 401 else None
        return error
    if status == 404:
        return NotFoundError(message, status_code=status)
    if status == 429:
        return RateLimitError(message, status_code=status, hint="wait a moment, or lower your concurrency")
    if status >= 500:
        return ServerError(message, status_code=status)
    return APIStatusError(message, status_code=status)
