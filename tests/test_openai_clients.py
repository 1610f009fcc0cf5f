"""Other clients' LLM and image flows against the sandbox's HTTP server: the requests they
send replayed byte for byte (a Bearer key, OpenAI-style JSON, ``stream: true``), read the way
they read them, and the ``openai`` package itself when it is installed."""

from __future__ import annotations

import base64
import http.client
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from piapi_cli.sandbox import Emulator, Faults
from piapi_cli.sandbox.server import SandboxServer

KEY = "sk-sandbox-0123456789abcdef"
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def server() -> Iterator[SandboxServer]:
    with SandboxServer(Emulator(speed=1000, api_key=KEY), port=0, webhooks=False) as running:
        yield running


def post(base: str, path: str, body: dict[str, Any], key: str = KEY) -> http.client.HTTPResponse:
    """What piapi-skills and the n8n nodes send: a POST of JSON with a Bearer key."""
    parts = urlsplit(base)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    connection.request("POST", path, body=json.dumps(body), headers={
        "Authorization": f"Bearer {key}", "Content-Type": "application/json", "Accept": "text/event-stream",
    })  # fmt: skip
    return connection.getresponse()


def test_a_streamed_chat_read_line_by_line_as_simple_clients_do(server: SandboxServer) -> None:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}], "stream": True}
    response = post(server.base_url, "/v1/chat/completions", body)
    assert response.status == 200 and response.getheader("content-type", "").startswith("text/event-stream")
    text, usage, done, keepalives = "", None, False, 0
    for raw in response:  # http.client undoes the chunked framing; lines as they come
        line = raw.decode().rstrip("\r\n")
        if not line.startswith("data: "):
            keepalives += 1
            continue
        payload = line[len("data: ") :]
        if payload == "[DONE]":
            done = True
            break
        chunk = json.loads(payload)
        assert chunk["object"] == "chat.completion.chunk"
        text += chunk["choices"][0]["delta"].get("content") or ""
        usage = chunk.get("usage") or usage
    assert done and text.startswith("Sandbox answer") and keepalives > 0
    assert usage is not None and usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_a_whole_chat_answer_in_openai_shape(server: SandboxServer) -> None:
    body = {"model": "gpt-4o", "messages": [{"role": "system", "content": "x"}, {"role": "user", "content": "hi"}],
            "temperature": 0.7, "max_tokens": 100}  # fmt: skip
    answer = json.loads(post(server.base_url, "/v1/chat/completions", body).read())
    assert answer["object"] == "chat.completion" and answer["choices"][0]["message"]["role"] == "assistant"
    assert answer["choices"][0]["finish_reason"] == "stop" and answer["usage"]["total_tokens"] > 0


@pytest.mark.parametrize("key", ["wrong-key-0123456789", ""])
def test_the_routes_want_the_bearer_key(server: SandboxServer, key: str) -> None:
    response = post(server.base_url, "/v1/chat/completions", {"model": "m", "messages": []}, key=key)
    assert response.status == 401 and "message" in json.loads(response.read())["error"]


@pytest.mark.parametrize("stream", [False, True])
def test_piapi_skills_llm_command_sends_the_unified_apis_key_and_is_answered(
    server: SandboxServer, stream: bool
) -> None:
    # piapi-skills' `llm` posts {model, messages[, stream]} to /v1/chat/completions with the
    # Unified API's x-api-key header (no Bearer), then prints message.content, or the deltas
    parts = urlsplit(server.base_url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Summarize PiAPI in one sentence."}]}
    if stream:
        body["stream"] = True
    headers = {"x-api-key": KEY, "Content-Type": "application/json"}
    connection.request("POST", "/v1/chat/completions", body=json.dumps(body), headers=headers)
    response = connection.getresponse()
    assert response.status == 200
    if not stream:
        assert json.loads(response.read())["choices"][0]["message"]["content"].startswith("Sandbox answer")
        return
    text = ""
    for raw in response:
        line = raw.decode().strip()
        if not line.startswith("data: ") or line[6:] == "[DONE]":
            continue
        text += (json.loads(line[6:]).get("choices") or [{}])[0].get("delta", {}).get("content", "") or ""
    assert text.startswith("Sandbox answer")
    wrong = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    wrong.request("POST", "/v1/chat/completions", body=json.dumps(body), headers={"x-api-key": "wrong-key-000000"})
    assert wrong.getresponse().status == 401


def test_an_image_url_answer_points_at_a_png_the_sandbox_serves(server: SandboxServer) -> None:
    body = {"model": "gpt-image-1.5", "prompt": "a red fox", "n": 2, "size": "1024x1024", "response_format": "url"}
    answer = json.loads(post(server.base_url, "/v1/images/generations", body).read())
    assert len(answer["data"]) == 2 and answer["usage"]["output_tokens"] > 0
    parts = urlsplit(answer["data"][1]["url"])
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    connection.request("GET", parts.path)  # no key: output files are public URLs
    image = connection.getresponse()
    assert image.status == 200 and image.read().startswith(PNG)


# --- the openai package, if installed ------------------------------------------------------


@pytest.fixture
def openai_client(server: SandboxServer) -> Any:
    openai = pytest.importorskip("openai")
    return openai.OpenAI(base_url=server.base_url + "/v1", api_key=KEY, max_retries=0)


def test_the_openai_package_streams_a_chat(openai_client: Any) -> None:
    stream = openai_client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hello"}], stream=True
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.startswith("Sandbox answer") and chunks[-1].usage.total_tokens > 0
    whole = openai_client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    assert whole.choices[0].message.content.startswith("Sandbox answer") and whole.usage.total_tokens > 0


def test_the_openai_package_follows_sora_through_chat(openai_client: Any) -> None:
    stream = openai_client.chat.completions.create(
        model="sora-2-preview", messages=[{"role": "user", "content": "a fox"}], stream=True
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert "Progress: 100%" in text and ".mp4)" in text


def test_the_openai_package_generates_and_edits_images(openai_client: Any, tmp_path: Path) -> None:
    made = openai_client.images.generate(model="gpt-image-1.5", prompt="a fox", n=1)
    picture = base64.b64decode(made.data[0].b64_json)
    assert picture.startswith(PNG)
    source = tmp_path / "in.png"
    source.write_bytes(picture)
    with source.open("rb") as image:
        edited = openai_client.images.edit(model="gpt-image-1", image=image, prompt="add snow")
    assert base64.b64decode(edited.data[0].b64_json).startswith(PNG)
    assert edited.usage.input_tokens > made.usage.input_tokens  # the image counts as input


def test_the_openai_package_sees_a_cut_stream_as_an_error(tmp_path: Path) -> None:
    openai = pytest.importorskip("openai")
    emulator = Emulator(speed=1000, api_key=KEY, faults=Faults(drop_rate=1.0))
    with SandboxServer(emulator, port=0, webhooks=False) as running:
        client = openai.OpenAI(base_url=running.base_url + "/v1", api_key=KEY, max_retries=0)
        stream = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}], stream=True)
        text = ""
        with pytest.raises((openai.APIConnectionError, httpx.RemoteProtocolError)):
            for chunk in stream:
                text += chunk.choices[0].delta.content or ""
        assert text.startswith("Sandbox")  # part of the answer came, then the cut


def test_the_n8n_nodes_gpt4o_image_flow_gets_a_png_link_in_the_stream(server: SandboxServer) -> None:
    # the n8n nodes' "GPT-4o Text to Image": a streamed chat whose content ends in ![...](URL)
    body = {"model": "gpt-4o-image-preview", "messages": [{"role": "user", "content": "a red fox"}], "stream": True}
    response = post(server.base_url, "/v1/chat/completions", body)
    assert response.status == 200
    raw = response.read().decode()
    content = "".join(
        (json.loads(line[6:]).get("choices") or [{}])[0].get("delta", {}).get("content") or ""
        for line in raw.splitlines()
        if line.startswith("data: ") and line[6:] != "[DONE]"
    )
    found = re.search(r"!\[[^\]]*\]\((https?://[^)]+\.png)\)", content)
    assert found is not None, content
    parts = urlsplit(found.group(1))
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    connection.request("GET", parts.path)
    assert connection.getresponse().read().startswith(PNG)
