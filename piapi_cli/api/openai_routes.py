"""PiAPI's OpenAI-compatible routes: chat completions (plain and streamed) and images.

These live beside the Unified API on the same host, with OpenAI's shapes: a Bearer key, no
``{code, data}`` envelope, ``{"error": {...}}`` for errors. No typer, no rich::

    from piapi_cli.api.openai_routes import OpenAIRoutes
    with OpenAIRoutes(api_key="...") as routes:
        for chunk in routes.chat_stream({"model": "gpt-4o-mini", "messages": [...]}):
            print(chunk.text, end="")

A request here is paid like a create, so it is sent once: only a connection refused before
anything left, and a 429, are tried again. A stream that stops before its end raises
``StreamCut`` (``StreamFailed`` for an error object sent mid-stream) carrying what arrived.
Quiet streams are waited on for ``read_timeout`` seconds between two bytes (None: forever).
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from piapi_cli.api.backoff import Backoff, parse_retry_after
from piapi_cli.api.errors import (
    AnswerTooLong,
    ConnectionFailed,
    CreateOutcomeUnknown,
    MalformedResponse,
    StreamCut,
    StreamFailed,
    UsageError,
)
from piapi_cli.api.factory import Timeouts, Use
from piapi_cli.api.openai_types import ChatAnswer, ChatChunk, Usage, error_message
from piapi_cli.api.tasks import scrub

if TYPE_CHECKING:
    import httpx

__all__ = ["CHAT_PATH", "EDITS_PATH", "IMAGES_PATH", "VIDEO_CHAT_MODELS", "ChatAnswer", "ChatChunk", "OpenAIRoutes",
           "Usage", "error_message"]  # fmt: skip

log = logging.getLogger("piapi.http")

CHAT_PATH = "/v1/chat/completions"
IMAGES_PATH = "/v1/images/generations"
EDITS_PATH = "/v1/images/edits"
#: the largest answer read, whole or streamed (its text); a chat answer is a few kilobytes, the
#: longest a model writes well under a megabyte
MAX_ANSWER = 16 * 2**20
#: what these routes' client is for: answers that may take minutes (``read_timeout`` replaces the read)
ROUTES = Use("openai", Timeouts(connect=10.0, read=600.0))
#: models that answer on the chat route with a video, always streamed
VIDEO_CHAT_MODELS = frozenset({"sora-2-preview", "sora-2-hd-preview"})


class OpenAIRoutes:
    """A client of the OpenAI-compatible routes; ``transport`` replaces the network (tests, sandbox)."""

    def __init__(
        self,
        api_key: str,
        base_url: str = "https://api.piapi.ai",
        *,
        transport: httpx.BaseTransport | None = None,
        read_timeout: float | None = 600.0,
        retry: Backoff | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: Callable[[], float] = random.random,
    ) -> None:
        from piapi_cli.api import factory

        self.base_url = base_url.rstrip("/")
        self.read_timeout = read_timeout
        self._api_key = api_key
        self.retry = retry or Backoff()
        self._sleep, self._rng = sleep, rng
        self._http = factory.http_client(
            factory.with_timeouts(ROUTES, read=read_timeout),
            [self.base_url],
            transport=transport,
            headers={"authorization": f"Bearer {api_key}"},
        )

    # --- chat -------------------------------------------------------------------------

    def chat(self, body: dict[str, Any]) -> ChatAnswer:
        """POST /v1/chat/completions without streaming: the whole answer."""
        with self.post(CHAT_PATH, json_body={**body, "stream": False}) as response:
            content = self._read(response)
            data = self._json(response, content)
            if response.headers.get("content-type", "").startswith("text/event-stream"):
                raise MalformedResponse("the server streamed an answer that was asked for whole")
        if not isinstance(data, dict) or not isinstance(data.get("choices"), list):
            raise MalformedResponse("the answer holds no choices: not a chat completion")
        return ChatAnswer.from_api(data)

    def chat_stream(self, body: dict[str, Any]) -> Iterator[ChatChunk]:
        """POST /v1/chat/completions with ``stream: true``: the chunks as they arrive.

        Raises ``StreamCut`` when the stream stops before ``[DONE]`` (or a finish reason),
        ``StreamFailed`` for an error object in it, ``AnswerTooLong`` (and stops reading) before
        its text passes ``MAX_ANSWER``; each carries the text that arrived.
        """
        import httpx

        from piapi_cli.api import sse

        received: list[str] = []
        size = 0
        with self.post(CHAT_PATH, json_body={**body, "stream": True}) as response:
            kind = response.headers.get("content-type", "")
            if not kind.startswith("text/event-stream"):
                # a server that answers whole even when asked to stream: one chunk of it all
                data = self._json(response, self._read(response))
                yield ChatChunk.from_api(data if isinstance(data, dict) else {})
                return
            decoder = sse.SSEDecoder()
            finished = False
            try:
                for piece in response.iter_bytes():
                    for event in decoder.feed(piece):
                        if event.data.strip() == "[DONE]":
                            return
                        chunk = self._chunk(event.data, received)
                        size += len(chunk.text)
                        if size > MAX_ANSWER:
                            raise AnswerTooLong(
                                f"the answer passed {MAX_ANSWER // 2**20} MiB, the most piapi takes of one; it "
                                "stopped reading",
                                received="".join(received),
                            )
                        if chunk.text:
                            received.append(chunk.text)
                        finished = finished or chunk.finish_reason is not None
                        yield chunk
                decoder.close()
            except httpx.ReadTimeout:
                raise StreamCut(
                    f"the stream went quiet for {self.read_timeout:g} seconds; piapi stopped waiting (a model "
                    "that thinks long may need a longer read_timeout)",
                    received="".join(received),
                ) from None
            except (httpx.TransportError, sse.SSEError) as exc:
                raise StreamCut(
                    f"the server cut the stream ({self._scrub(str(exc) or type(exc).__name__)})",
                    received="".join(received),
                ) from None
            if not finished:
                raise StreamCut("the stream ended before its end mark ([DONE])", received="".join(received))

    def _chunk(self, data: str, received: list[str]) -> ChatChunk:
        """One event's chunk; ``received``: the text so far, joined only for an error."""
        try:
            doc = json.loads(data)
        except (ValueError, RecursionError):
            raise StreamCut("the stream sent an event that is not JSON", received="".join(received)) from None
        if not isinstance(doc, dict):
            raise StreamCut("the stream sent an event that is not a JSON object", received="".join(received))
        if doc.get("error") is not None and not doc.get("choices"):
            message = self._scrub(error_message(data.encode(), "application/json"))
            raise StreamFailed(f"the server reported an error mid-stream: {message}", received="".join(received))
        return ChatChunk.from_api(doc)

    # --- images -----------------------------------------------------------------------

    def images(
        self,
        path: str,
        on_bytes: Callable[[bytes], None],
        *,
        json_body: dict[str, Any] | None = None,
        files: Any = None,
        data: dict[str, Any] | None = None,
    ) -> None:
        """POST an image route; the answer's bytes go to ``on_bytes`` as they arrive (an
        answer carries its images inline: it is never read whole). Multipart ``files`` are
        streamed from their open files."""
        import httpx

        with self.post(path, json_body=json_body, files=files, data=data) as response:
            kind = response.headers.get("content-type", "")
            if "json" not in kind:
                content = self._read(response)
                raise MalformedResponse(
                    f"PiAPI answered HTTP {response.status_code} with {error_message(content, kind)}, not JSON; "
                    "the request may have been carried out and was not resent"
                )
            try:
                for piece in response.iter_bytes():
                    on_bytes(piece)
            except httpx.TimeoutException:
                raise CreateOutcomeUnknown(
                    f"the answer went quiet for {self.read_timeout:g} seconds; the images may have been made (and "
                    "paid) and were not asked for again",
                ) from None
            except httpx.TransportError as exc:
                raise CreateOutcomeUnknown(
                    f"the answer was cut ({self._scrub(str(exc) or type(exc).__name__)}); the images may have been "
                    "made (and paid) and were not asked for again",
                ) from None

    # --- plumbing -----------------------------------------------------------------------

    @contextmanager
    def post(
        self,
        path: str,
        *,
        json_body: Any = None,
        files: Any = None,
        data: dict[str, Any] | None = None,
    ) -> Iterator[httpx.Response]:
        """Send once (again only when nothing was sent, or after a 429); the response is open
        for streaming; error statuses are raised, with the server's message."""
        import httpx

        from piapi_cli.api.http import nothing_sent

        content, headers = None, {}
        if json_body is not None:
            try:
                content = json.dumps(json_body, allow_nan=False, ensure_ascii=False).encode()
            except (ValueError, TypeError, RecursionError) as exc:
                raise UsageError(f"the request cannot be sent as JSON: {exc}") from None
            headers["content-type"] = "application/json"
        attempt = 0
        while True:
            attempt += 1
            request = self._http.build_request(
                "POST", self.base_url + path, content=content, files=files, data=data, headers=headers
            )
            log.debug("POST %s (attempt %d)", path, attempt)
            try:
                response = self._http.send(request, stream=True)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                failed = nothing_sent(exc)  # (a certificate not trusted stays so: not tried again)
                if files is None and not failed.lasting and self.retry.retries_left(attempt):
                    self._pause(attempt, None)
                    continue
                raise ConnectionFailed(
                    f"could not connect to {self.base_url}: {self._scrub(str(failed))}",
                    advice="tls" if failed.lasting else "base_url",
                ) from None
            except httpx.TransportError as exc:
                raise CreateOutcomeUnknown(
                    f"the request was sent but its answer was lost ({self._scrub(str(exc) or type(exc).__name__)}); "
                    "it may have been carried out (and paid) and was not resent",
                ) from None
            try:
                if response.status_code == 429 and files is None and self.retry.retries_left(attempt):
                    self._pause(attempt, parse_retry_after(response.headers.get("retry-after")))
                    continue
                if response.status_code >= 400:
                    self._raise_status(response)
                yield response
                return
            finally:
                response.close()

    def _raise_status(self, response: httpx.Response) -> None:
        from piapi_cli.api.errors import error_for_status

        try:
            content = self._read(response)
        except MalformedResponse:
            content = b""
        message = self._scrub(error_message(content, response.headers.get("content-type", "")))
        error = error_for_status(response.status_code, f"PiAPI answered HTTP {response.status_code}: {message}")
        error.api_message = message
        raise error

    def _read(self, response: httpx.Response) -> bytes:
        import httpx

        pieces, size = [], 0
        try:
            for piece in response.iter_bytes():
                size += len(piece)
                if size > MAX_ANSWER:
                    raise MalformedResponse(f"the answer is over {MAX_ANSWER // 2**20} MiB")
                pieces.append(piece)
        except httpx.TimeoutException:
            raise CreateOutcomeUnknown(
                f"no answer came for {self.read_timeout:g} seconds; the request may have been carried out "
                "(and paid) and was not resent",
                advice="read_timeout",
            ) from None
        except httpx.TransportError as exc:
            raise CreateOutcomeUnknown(
                f"the answer was cut ({self._scrub(str(exc) or type(exc).__name__)}); the request may have "
                "been carried out (and paid) and was not resent",
            ) from None
        return b"".join(pieces)

    def _json(self, response: httpx.Response, content: bytes) -> Any:
        try:
            return json.loads(content)
        except (ValueError, RecursionError):
            what = error_message(content, response.headers.get("content-type", ""))
            raise MalformedResponse(
                f"PiAPI answered HTTP {response.status_code} with {what}, not JSON; the request may have "
                "been carried out and was not resent"
            ) from None

    def _pause(self, attempt: int, retry_after: float | None) -> None:
        self._sleep(self.retry.delay(attempt - 1, retry_after, self._rng))

    def _scrub(self, text: str) -> str:
        return scrub(text, self._api_key)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> OpenAIRoutes:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
