"""piapi image: make or edit images on PiAPI's OpenAI-compatible image routes."""

from __future__ import annotations

from pathlib import Path

from piapi_cli.cli.commands._options import JqOption, examples
from piapi_cli.cli.parsing import params
from piapi_cli.cli.parsing.params import Annotated, Optional

TYPE_CHECKING = False  # (typing is a slow import)
if TYPE_CHECKING:
    from typing import Any

    from piapi_cli.cli.app import State
    from piapi_cli.core.images import ImageResult

EPILOG = examples(
    'piapi image "a lighthouse at dusk, watercolour"',
    'piapi image -m gpt-image-1 "a red fox" -n 2 --size 1024x1536 --quality high --download out',
    'piapi image "add snow on the roof" --edit house.png',
    "piapi image 'a logo' --response-format url --json",
    notes="Images sent inline (base64) are decoded straight to files, named CALL-INDEX.EXT as tasks' "
    "outputs are, in --download DIR or else the current directory; image URLs are printed, and "
    "downloaded with --download. A file that exists is never overwritten. The call is sent once and "
    "journaled: an answer that is lost is not asked for again (it may have been made and paid). "
    "piapi tasks images lists the calls: prompt, status, files saved.",
)


_ModelOption = Annotated[
    str, params.Option("--model", "-m", metavar="MODEL", help="Image model (piapi models --chat lists them)")
]

_CountOption = Annotated[
    Optional[int], params.Option("-n", metavar="N", help="How many images (1 to 10)", show_default=False)
]

_SizeOption = Annotated[
    Optional[str],
    params.Option("--size", metavar="WxH", help="1024x1024, 1536x1024, ... or auto", show_default=False),
]

_QualityOption = Annotated[
    Optional[str], params.Option("--quality", metavar="Q", help="low, medium, high or auto", show_default=False)
]

_OutputFormatOption = Annotated[
    Optional[str],
    params.Option("--format", metavar="png|jpeg|webp", help="The images' file format", show_default=False),
]

_ResponseFormatOption = Annotated[
    Optional[str],
    params.Option(
        "--response-format",
        metavar="url|b64_json",
        show_default=False,
        help="Ask for URLs or images inline [default: the server's choice]",
    ),
]

_EditOption = Annotated[
    Optional[list[Path]],
    params.Option("--edit", metavar="FILE", help="Edit this image (repeatable; sent from disk as a form)"),
]

_DownloadOption = Annotated[
    Optional[Path],
    params.Option("--download", metavar="DIR", help="Save every image into DIR (inline ones: default .)"),
]

_AsJsonOption = Annotated[
    bool, params.Option("--json", help="Print the answer as JSON, each image's local path beside it")
]


def image(
    ctx: params.Context,
    prompt: Annotated[str, params.Argument(metavar="PROMPT", help="What to make, or how to change the --edit images")],
    model: _ModelOption = "gpt-image-1.5",
    count: _CountOption = None,
    size: _SizeOption = None,
    quality: _QualityOption = None,
    output_format: _OutputFormatOption = None,
    response_format: _ResponseFormatOption = None,  # fmt: skip,
    edit: _EditOption = None,
    download: _DownloadOption = None,
    as_json: _AsJsonOption = False,
    jq: JqOption = None,
) -> None:
    """Make images (/v1/images/generations), or edit given ones (/v1/images/edits)."""
    from piapi_cli.api.errors import UsageError
    from piapi_cli.core import images
    from piapi_cli.core.downloads.naming import prepare_directory

    state: State = ctx.obj
    if output_format is not None and output_format not in images.FORMATS:
        raise UsageError(f"--format {output_format!r}: expected png, jpeg or webp")
    if response_format is not None and response_format not in ("url", "b64_json"):
        raise UsageError(f"--response-format {response_format!r}: expected url or b64_json")
    job = images.ImageJob(prompt, model, count, size, quality, output_format, response_format, list(edit or []))
    job.check()
    if jq is not None:
        from piapi_cli.cli.jqfilter import compile_jq

        compile_jq(jq)
    directory = download or Path(".")
    prepare_directory(directory)  # a directory that cannot be written: exit 2, nothing sent
    session = state.session
    try:
        result = images.run(session.openai, session.journal, session.world, job, directory)
    except KeyboardInterrupt:  # (Ctrl-C, SIGTERM, SIGHUP): say what may have been paid, then the usual report
        if job.call_id is not None:
            kept = (
                f"journaled as unknown ({session.prog} tasks images show {job.call_id})"
                if session.journal is not None
                else "not journaled (the journal is off)"
            )
            state.output.info(
                f"the image call {job.call_id} was in flight: its images may have been made (and paid); {kept}, "
                f"never sent again; images that came whole are kept in {download or 'the current directory'}"
            )
        raise
    if result.journal_error:
        state.output.warn(f"{result.journal_error}; the images are saved all the same")
    code = _fetch_urls(state, result, download)
    _show(state, result, as_json=as_json, jq=jq)
    if code:
        raise params.Exit(code)


def _fetch_urls(state: State, result: ImageResult, download: Optional[Path]) -> int:
    """Image URLs through the downloader, when --download asks; their files join the saved."""
    if not result.urls or download is None:
        return 0
    from piapi_cli.api.errors import ExitCode, combine_exit_codes
    from piapi_cli.api.tasks import Task
    from piapi_cli.cli.pipeline import report_failure
    from piapi_cli.core.runner import DownloadPlan

    fetchable = [url for url in result.urls if url.lower().startswith(("http://", "https://"))]
    codes = []
    for url in result.urls:
        if url not in fetchable:  # file:, javascript:, data: ... an image answer names no such thing
            state.output.error(f"could not download {url[:80]!r}: not an http(s) URL")
            codes.append(ExitCode.DOWNLOAD_FAILED)
    if fetchable:
        output = {"data": [{"url": url} for url in fetchable]}
        task = Task.from_api(
            {"task_id": result.call_id, "model": "image", "task_type": "image", "status": "completed", "output": output}
        )
        outcome = state.session.runner().download([task], DownloadPlan(download))[0]
        result.saved += outcome.files
        from piapi_cli.core.images import record_downloads

        problem = record_downloads(state.session.journal, result.call_id, outcome.files)
        if problem:
            state.output.warn(f"{problem}; the images are saved all the same")
        for failure in outcome.failures:
            report_failure(state, failure)
        codes.append(outcome.exit_code)
    return int(combine_exit_codes(codes))


def _show(state: State, result: ImageResult, *, as_json: bool, jq: Optional[str]) -> None:
    output = state.output
    by_url = {f.url: f.path for f in result.saved if f.url}
    inline = [f.path for f in result.saved if not f.url]

    def document() -> dict[str, Any]:
        data = []
        for item in result.answer.get("data") or []:
            if not isinstance(item, dict):
                continue
            entry = {k: v for k, v in item.items() if k not in ("b64_json", "image")}
            index = item.get("image")
            path = inline[index] if isinstance(index, int) and index < len(inline) else by_url.get(item.get("url", ""))
            data.append({**entry, "path": path})
        return {"id": result.call_id, **{k: v for k, v in result.answer.items() if k != "data"}, "data": data}

    def lines() -> list[str]:
        return [*inline, *(by_url.get(url, url) for url in result.urls)]

    from piapi_cli.api.errors import OutputStepFailed
    from piapi_cli.cli.terminal import CLOSED_PIPE_EXIT

    try:
        output.render(document, as_json=as_json, jq=jq, lines=lines, created=True)
    except OutputStepFailed:  # the images were made (and paid): their paths reach stdout all the same
        for line in lines():
            output.line(line)
        raise
    except params.Exit as exc:
        if exc.exit_code == CLOSED_PIPE_EXIT:  # the reader went away: stderr names what was made
            made = " ".join(lines()) or "no file"
            shown = f"{state.session.prog} tasks images show {result.call_id}"
            output.warn(f"made {result.call_id} ({made}), but stdout was closed: {shown}")
        raise
    usage = result.usage
    if usage is not None and isinstance(usage.get("total_tokens"), int):
        output.info(f"{result.call_id}: {usage['total_tokens']:,} tokens")
