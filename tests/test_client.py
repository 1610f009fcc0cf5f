"""The HTTP client: envelopes, errors, and the retry rules that keep creates single."""

from __future__ import annotations

import json

import httpx
import pytest

from piapi_cli.api.client import Client, RetryPolicy, parse_retry_after
from piapi_cli.api.errors import (
    APIStatusError,
    AuthenticationError,
    ConnectionFailed,
    CreateOutcomeUnknown,
    ExitCode,
    MalformedResponse,
    NotFoundError,
    RateLimitError,
    ServerError,
)
from tests.conftest import TEST_KEY, FakeClock, fixture

TASK = fixture("flux-img2img-created.json")


class Recorder:
    """A routing function behind httpx.MockTransport that answers from a script."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


def make(recorder: Recorder, clock: FakeClock) -> Client:
    return Client(
        TEST_KEY,
        "https://api.example.test",
        transport=httpx.MockTransport(recorder),
        sleep=clock.sleep,
        rng=lambda: 0.5,
    )


def ok(body: object = TASK) -> httpx.Response:
    return httpx.Response(200, json=body)


def test_get_sends_key_and_user_agent_and_parses_the_task(clock: FakeClock) -> None:
    recorder = Recorder(ok())
    task = make(recorder, clock).get_task("1631d053-2352-4add-95cc-360fc52d5f89")
    request = recorder.requests[0]
    assert request.method == "GET" and request.url.path == "/api/v1/task/1631d053-2352-4add-95cc-360fc52d5f89"
    assert request.headers["x-api-key"] == TEST_KEY
    assert request.headers["user-agent"].startswith("piapi-cli/")
    assert task.task_id == "1631d053-2352-4add-95cc-360fc52d5f89" and task.status == "pending"


def test_create_posts_the_documented_body(clock: FakeClock) -> None:
    recorder = Recorder(ok())
    make(recorder, clock).create_task("Qubico/flux1-dev", "txt2img", {"prompt": "a cat"}, {"service_mode": "public"})
    body = json.loads(recorder.requests[0].content)
    assert body == {
        "model": "Qubico/flux1-dev",
        "task_type": "txt2img",
        "input": {"prompt": "a cat"},
        "config": {"service_mode": "public"},
    }


@pytest.mark.parametrize(
    "envelope",
    [
        {"code": 0, "data": TASK["data"], "message": "success"},
        {"timestamp": 1724511853, "data": TASK["data"]},
    ],
)
def test_code_zero_and_webhook_shaped_bodies_are_accepted(clock: FakeClock, envelope: dict[str, object]) -> None:
    assert make(Recorder(ok(envelope)), clock).get_task("x").status == "pending"


@pytest.mark.parametrize(
    ("status", "error", "exit_code"),
    [
        (400, APIStatusError, ExitCode.API_REFUSED),
        (401, AuthenticationError, ExitCode.AUTH),
        (403, AuthenticationError, ExitCode.AUTH),
        (404, NotFoundError, ExitCode.API_REFUSED),
        (500, ServerError, ExitCode.NETWORK),
    ],
)
def test_error_statuses_map_to_errors_and_exit_codes(
    clock: FakeClock, status: int, error: type, exit_code: int
) -> None:
    recorder = Recorder(httpx.Response(status, json={"code": status, "message": "nope"}))
    with pytest.raises(error) as caught:
        make(recorder, clock).get_task("x")
    assert caught.value.exit_code == exit_code
    assert "nope" in caught.value.message and str(status) in caught.value.message


def test_error_code_inside_a_200_envelope_is_an_error(clock: FakeClock) -> None:
    with pytest.raises(APIStatusError, match="bad input"):
        make(Recorder(ok({"code": 400, "message": "bad input"})), clock).get_task("x")


def test_html_proxy_page_is_a_clear_error_not_a_traceback(clock: FakeClock) -> None:
    page = httpx.Response(502, text="<html><body>Bad Gateway</body></html>", headers={"content-type": "text/html"})
    with pytest.raises(ServerError, match="HTML page"):
        make(Recorder(page), clock).get_task("x")


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(200, text="<!DOCTYPE html><p>captive portal</p>"),
        httpx.Response(200, content=b""),
        httpx.Response(200, json={"code": 200, "data": None}),
        httpx.Response(200, json=[1, 2]),
    ],
)
def test_malformed_success_answers_are_exit_5(clock: FakeClock, response: httpx.Response) -> None:
    with pytest.raises(MalformedResponse) as caught:
        make(Recorder(response), clock).get_task("x")
    assert caught.value.exit_code == ExitCode.NETWORK


def test_get_is_retried_on_503_then_succeeds(clock: FakeClock) -> None:
    recorder = Recorder(httpx.Response(503), httpx.Response(502), ok())
    assert make(recorder, clock).get_task("x").task_id
    assert len(recorder.requests) == 3
    assert clock.sleeps == [0.375, 0.75]  # 0.5s then 1s steps, jitter fixed at 0.75 of each


def test_retry_after_is_honoured_and_capped(clock: FakeClock) -> None:
    recorder = Recorder(
        httpx.Response(429, headers={"retry-after": "7"}), httpx.Response(429, headers={"retry-after": "9999"}), ok()
    )
    make(recorder, clock).get_task("x")
    assert clock.sleeps == [7.0, RetryPolicy().max_retry_after]


def test_rate_limit_after_all_retries_is_exit_6(clock: FakeClock) -> None:
    recorder = Recorder(httpx.Response(429, json={"code": 429, "message": "slow down"}))
    with pytest.raises(RateLimitError) as caught:
        make(recorder, clock).get_task("x")
    assert caught.value.exit_code == ExitCode.RATE_LIMITED
    assert len(recorder.requests) == RetryPolicy().attempts


def test_get_is_retried_on_a_dropped_connection(clock: FakeClock) -> None:
    recorder = Recorder(httpx.RemoteProtocolError("peer closed"), httpx.ReadTimeout("slow"), ok())
    assert make(recorder, clock).get_task("x").task_id
    assert len(recorder.requests) == 3


def test_delete_is_retried_like_get(clock: FakeClock) -> None:
    recorder = Recorder(httpx.Response(504), ok(fixture("cancel-answer.json")))
    assert "canceled" in make(recorder, clock).cancel_task("170b8a42-0e5b-4e2e-9f5a-0c7d3a1f2b9e")
    assert [r.method for r in recorder.requests] == ["DELETE", "DELETE"]


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(500),
        httpx.Response(502),
        httpx.Response(
            503, text="<html><body>Service Unavailable</body></html>", headers={"content-type": "text/html"}
        ),
        httpx.Response(200, text="<!doctype html><p>gateway</p>", headers={"content-type": "text/html"}),
        httpx.Response(200, text=""),
        httpx.Response(200, text='{"code": 200, "data": {"task_id": "abc"'),
        httpx.Response(200, json={"code": 200, "data": None, "message": "success"}),
        httpx.Response(200, json={"code": 500, "data": None, "message": "internal error"}),
        httpx.Response(400, text="bad gateway page"),
    ],
)
def test_create_that_may_have_been_carried_out_is_unknown_and_never_resent(
    clock: FakeClock, answer: httpx.Response
) -> None:
    recorder = Recorder(answer, ok())
    with pytest.raises(CreateOutcomeUnknown) as caught:
        make(recorder, clock).create_task("m", "t", {"prompt": "x"})
    assert len(recorder.requests) == 1 and clock.sleeps == []
    assert "may" in caught.value.message and "not resent" in caught.value.message


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (httpx.Response(400, json={"code": 400, "message": "prompt is required"}), APIStatusError),
        (httpx.Response(401, json={"code": 401, "message": "invalid key"}), AuthenticationError),
        (httpx.Response(404, text="not found"), NotFoundError),
    ],
)
def test_create_clearly_refused_is_refused_and_not_resent(
    clock: FakeClock, answer: httpx.Response, error: type[Exception]
) -> None:
    recorder = Recorder(answer, ok())
    with pytest.raises(error) as caught:
        make(recorder, clock).create_task("m", "t", {"prompt": "x"})
    assert not isinstance(caught.value, CreateOutcomeUnknown)
    assert len(recorder.requests) == 1


def test_create_refused_with_429_is_retried_honouring_retry_after(clock: FakeClock) -> None:
    recorder = Recorder(httpx.Response(429, headers={"retry-after": "3"}, json={"code": 429, "message": "slow"}), ok())
    assert make(recorder, clock).create_task("m", "t", {"prompt": "x"}).task_id
    assert len(recorder.requests) == 2 and clock.sleeps == [3.0]


def test_create_still_rate_limited_after_the_retries_is_exit_6(clock: FakeClock) -> None:
    recorder = Recorder(httpx.Response(429, json={"code": 429, "message": "slow down"}))
    with pytest.raises(RateLimitError):
        make(recorder, clock).create_task("m", "t", {"prompt": "x"})
    assert len(recorder.requests) == RetryPolicy().attempts


def test_a_single_500_on_a_get_is_retried(clock: FakeClock) -> None:
    recorder = Recorder(httpx.Response(500), ok())
    assert make(recorder, clock).get_task("x").task_id
    assert len(recorder.requests) == 2


@pytest.mark.parametrize(
    "lost",
    [
        httpx.RemoteProtocolError("closed"),
        httpx.ReadTimeout("timeout"),
        httpx.ReadError("reset"),
        httpx.WriteError("broken pipe"),
    ],
)
def test_create_whose_answer_was_lost_is_not_resent(clock: FakeClock, lost: Exception) -> None:
    recorder = Recorder(lost, ok())
    with pytest.raises(CreateOutcomeUnknown) as caught:
        make(recorder, clock).create_task("m", "t", {"prompt": "x"})
    assert len(recorder.requests) == 1
    assert caught.value.exit_code == ExitCode.NETWORK and "not resent" in caught.value.message


def test_create_is_retried_when_the_connection_was_refused_before_sending(clock: FakeClock) -> None:
    recorder = Recorder(httpx.ConnectError("refused"), ok())
    assert make(recorder, clock).create_task("m", "t", {"prompt": "x"}).task_id
    assert len(recorder.requests) == 2


def test_connection_failure_after_retries_is_exit_5(clock: FakeClock) -> None:
    recorder = Recorder(httpx.ConnectError("refused"))
    with pytest.raises(ConnectionFailed) as caught:
        make(recorder, clock).get_task("x")
    assert caught.value.exit_code == ExitCode.NETWORK
    assert len(recorder.requests) == 4


def test_api_key_never_appears_in_an_error_message(clock: FakeClock) -> None:
    recorder = Recorder(httpx.Response(401, json={"code": 401, "message": f"invalid key {TEST_KEY}"}))
    with pytest.raises(AuthenticationError) as caught:
        make(recorder, clock).get_task("x")
    assert TEST_KEY not in caught.value.message


def test_task_id_is_escaped_into_the_path(clock: FakeClock) -> None:
    recorder = Recorder(ok())
    make(recorder, clock).get_task("../account/info")
    assert recorder.requests[0].url.raw_path == b"/api/v1/task/..%2Faccount%2Finfo"


def test_retry_after_accepts_seconds_and_http_dates() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now=lambda: 1445412480.0) == 10.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


def test_tls_is_verified_unless_every_origin_is_plain_http() -> None:
    import ssl

    from piapi_cli.api.client import verify_for

    plain = verify_for("http://127.0.0.1:8787", "http://127.0.0.1:8787")
    assert plain.verify_mode == ssl.CERT_REQUIRED and plain.check_hostname
    assert plain.cert_store_stats()["x509_ca"] == 0 and plain.get_ca_certs() == []  # trusts nothing
    context = verify_for("https://api.piapi.ai", "https://upload.theapi.app")
    # verifying, whatever it trusts: a hashed directory (the system's) loads no CA until a chain names one
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert verify_for("http://127.0.0.1:8787", "https://upload.theapi.app") is context  # shared, loaded once
    assert verify_for("http://cdn.example/a.png") is context  # a remote http URL may redirect to https


def test_an_answer_that_does_not_decode_is_a_network_error_not_a_crash(clock: FakeClock) -> None:
    def garbage() -> httpx.Response:
        return httpx.Response(200, stream=httpx.ByteStream(b"\x00not gzip"), headers={"content-encoding": "gzip"})

    with pytest.raises(MalformedResponse):
        make(Recorder(*(garbage() for _ in range(4))), clock).get_task("x")
    with pytest.raises(CreateOutcomeUnknown):  # it came back: the create may have been carried out
        make(Recorder(garbage()), clock).create_task("m", "t", {"prompt": "x"})


def test_a_gzip_bomb_answer_is_cut_off_not_inflated(clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    import gzip

    from piapi_cli.api import client as client_module

    monkeypatch.setattr(client_module, "MAX_ANSWER", 1 << 20)
    bomb = gzip.compress(b"{" + b" " * (8 << 20) + b"}")  # 8 MiB of spaces in about 8 KiB
    answers = [
        httpx.Response(200, stream=httpx.ByteStream(bomb), headers={"content-encoding": "gzip"}) for _ in range(4)
    ]
    recorder = Recorder(*answers)
    with pytest.raises(MalformedResponse) as caught:
        make(recorder, clock).get_task("x")
    assert "over 1 MiB" in caught.value.message
    assert len(recorder.requests) == 1  # not asked again: the same answer would come


def test_a_deeply_nested_answer_is_malformed_not_a_recursion_error(clock: FakeClock) -> None:
    deep = b"[" * 200_000 + b"]" * 200_000
    with pytest.raises(MalformedResponse):
        make(Recorder(httpx.Response(200, content=deep)), clock).get_task("x")


def test_nan_is_never_sent_as_json(clock: FakeClock) -> None:
    from piapi_cli.api.errors import UsageError

    recorder = Recorder(ok())
    with pytest.raises(UsageError):
        make(recorder, clock).create_task("m", "t", {"guidance_scale": float("nan")})
    assert recorder.requests == []


def test_huge_usage_numbers_do_not_crash_the_task() -> None:
    from piapi_cli.api.tasks import Task

    task = Task.from_api(json.loads('{"task_id": "t", "status": "completed", "meta": {"usage": {"consume": 1e400}}}'))
    assert task.credits is None
    big = Task.from_api({"task_id": "t", "status": "completed", "meta": {"usage": {"consume": 10**30}}})
    assert big.credits == 10**30


def test_an_error_answer_that_names_a_task_keeps_the_task(clock: FakeClock) -> None:
    answer = httpx.Response(
        400, json={"code": 400, "message": "success", "data": {"task_id": "t-9", "status": "pending"}}
    )
    recorder = Recorder(answer)
    task = make(recorder, clock).create_task("m", "t", {"prompt": "x"})
    assert task.task_id == "t-9" and len(recorder.requests) == 1
