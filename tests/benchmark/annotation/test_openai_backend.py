"""The ``openai`` backend against a loopback HTTP server: request shape, retries, timeouts, concurrency, key hygiene."""

from __future__ import annotations

import base64
import json
import logging
import os
import threading
import time
import traceback
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

pytest.importorskip("requests")

from asebench.annotation.backends import TextRequest, make_backend
from asebench.annotation.errors import BackendError
from asebench.domains.ase.prompts import LLM_PROMPT, VLM_PROMPT

KEY = "sk-test-SECRET-0123456789abcdef"
PNG = b"\x89PNG\r\n\x1a\n-not-really-a-png"


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # None: a completion that echoes the request's seed
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


class Scenario:
    """Replies to hand out in order (then the default), and every request received."""

    def __init__(self) -> None:
        self.replies: deque[Reply] = deque()
        self.default = Reply()
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0

    def next_reply(self) -> Reply:
        with self.lock:
            return self.replies.popleft() if self.replies else self.default


class Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        scenario: Scenario = self.server.scenario  # type: ignore[attr-defined]
        payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with scenario.lock:
            scenario.requests.append({"path": self.path, "headers": dict(self.headers), "json": payload})
            scenario.in_flight += 1
            scenario.max_in_flight = max(scenario.max_in_flight, scenario.in_flight)
        reply = scenario.next_reply()
        try:
            time.sleep(reply.delay)
        finally:
            # Leave the in-flight count before answering: once the client has this answer it may
            # send its next request at once, and a count taken after the write saw both.
            with scenario.lock:
                scenario.in_flight -= 1
        try:
            body = reply.body
            if body is None:
                body = {
                    "choices": [{"message": {"role": "assistant", "content": f" text for seed {payload['seed']} "}}]
                }
            if body == "echo-auth":
                body = {"error": f"bad key {self.headers.get('Authorization')}"}
            data = json.dumps(body).encode()
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout test)

    def log_message(self, format: str, *args: Any) -> None:
        return None


class Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False


@pytest.fixture()
def server() -> Iterator[tuple[str, Scenario]]:
    httpd = Server(("127.0.0.1", 0), Handler)
    scenario = Scenario()
    httpd.scenario = scenario  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/v1", scenario
    finally:
        httpd.shutdown()
        httpd.server_close()


def backend(base_url: str, **options: Any):
    settings = {"base_url": base_url, "model": "qwen2-vl-7b", "api_key": KEY, "backoff_base": 0.01, **options}
    return make_backend("openai", settings)


def vlm(seed: int = 3) -> TextRequest:
    return TextRequest(role="vlm", prompt=VLM_PROMPT, image_png=PNG, seed=seed, sample_id="type1_0001")


def test_the_request_has_the_chat_completions_shape(server: tuple[str, Scenario]) -> None:
    url, scenario = server
    client = backend(url, temperature=0.2, max_tokens=64)
    assert client.availability() is None
    assert client.generate(vlm()) == "text for seed 3"
    sent = scenario.requests[0]
    assert sent["path"] == "/v1/chat/completions"
    assert sent["headers"]["Authorization"] == f"Bearer {KEY}"
    body = sent["json"]
    assert (
        body["model"] == "qwen2-vl-7b" and body["temperature"] == 0.2 and body["seed"] == 3 and body["max_tokens"] == 64
    )
    assert len(body["messages"]) == 1 and body["messages"][0]["role"] == "user"
    text, image = body["messages"][0]["content"]
    assert text == {"type": "text", "text": VLM_PROMPT}
    assert image["type"] == "image_url"
    prefix = "data:image/png;base64,"
    assert image["image_url"]["url"].startswith(prefix)
    assert base64.b64decode(image["image_url"]["url"][len(prefix) :]) == PNG

    llm = TextRequest(role="llm", prompt=LLM_PROMPT, text="The pink dot group ...", seed=1)
    assert client.generate(llm) == "text for seed 1"
    content = scenario.requests[1]["json"]["messages"][0]["content"]
    assert content == [{"type": "text", "text": f"{LLM_PROMPT}\n\nThe pink dot group ..."}]


def test_a_503_is_retried_and_then_succeeds(server: tuple[str, Scenario]) -> None:
    url, scenario = server
    scenario.replies.extend([Reply(503, {"error": "overloaded"})])
    assert backend(url).generate(vlm()) == "text for seed 3"
    assert len(scenario.requests) == 2


def test_a_429_waits_as_long_as_retry_after_says(server: tuple[str, Scenario]) -> None:
    url, scenario = server
    scenario.replies.append(Reply(429, {"error": "slow down"}, {"Retry-After": "1"}))
    start = time.perf_counter()
    assert backend(url).generate(vlm()) == "text for seed 3"
    assert time.perf_counter() - start >= 0.95
    assert len(scenario.requests) == 2


def test_a_slow_server_times_out_with_a_clear_error_after_the_retries(server: tuple[str, Scenario]) -> None:
    url, scenario = server
    scenario.default = Reply(delay=1.5)
    start = time.perf_counter()
    with pytest.raises(BackendError, match=r"failed after 2 attempt\(s\): timed out after 0.2 s") as caught:
        backend(url, timeout=0.2, max_retries=1).generate(vlm())
    assert time.perf_counter() - start < 3.0
    assert "type1_0001" in str(caught.value) and "vlm, seed 3" in str(caught.value)


def test_client_errors_are_not_retried(server: tuple[str, Scenario]) -> None:
    url, scenario = server
    scenario.replies.append(Reply(400, {"error": "unknown model"}))
    with pytest.raises(BackendError, match="HTTP 400"):
        backend(url).generate(vlm())
    assert len(scenario.requests) == 1


def test_the_api_key_never_leaks(server: tuple[str, Scenario], caplog: pytest.LogCaptureFixture) -> None:
    url, scenario = server
    scenario.default = Reply(500, "echo-auth")
    client = backend(url, max_retries=2)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(BackendError) as caught:
        client.generate(vlm())
    assert len(scenario.requests) == 3
    message = str(caught.value)
    assert "HTTP 500" in message and "bad key Bearer ***" in message
    rendered = "".join(traceback.format_exception(caught.value))
    for text in (
        message,
        repr(caught.value),
        rendered,
        caplog.text,
        json.dumps(client.provenance()),
        repr(client),
        repr(client.options),
    ):
        assert KEY not in text
    assert client.provenance()["api_key_set"] is True and "attempt 1/3" in caplog.text


def test_configuration_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, server: tuple[str, Scenario]
) -> None:
    url, scenario = server
    for name in ("ASEBENCH_OPENAI_BASE_URL", "ASEBENCH_OPENAI_MODEL", "ASEBENCH_OPENAI_API_KEY", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    missing = make_backend("openai")
    assert "ASEBENCH_OPENAI_BASE_URL" in (missing.availability() or "")
    with pytest.raises(BackendError, match="unavailable"):
        missing.generate(vlm())
    monkeypatch.setenv("ASEBENCH_OPENAI_BASE_URL", url + "/")
    assert "ASEBENCH_OPENAI_MODEL" in (make_backend("openai").availability() or "")
    monkeypatch.setenv("ASEBENCH_OPENAI_MODEL", "llava")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-fallback")
    client = make_backend("openai")
    assert client.availability() is None and client.model == "llava"
    client.generate(vlm())
    assert scenario.requests[-1]["headers"]["Authorization"] == "Bearer sk-fallback"
    monkeypatch.setenv("ASEBENCH_OPENAI_API_KEY", "sk-preferred")
    make_backend("openai").generate(vlm())
    assert scenario.requests[-1]["headers"]["Authorization"] == "Bearer sk-preferred"
    assert make_backend("openai").provenance()["base_url"] == url


def test_generate_many_keeps_order_and_bounds_concurrency(server: tuple[str, Scenario]) -> None:
    url, scenario = server
    scenario.default = Reply(delay=0.2)
    progress: list[tuple[int, int]] = []
    texts = backend(url, max_concurrency=3).generate_many(
        [vlm(seed) for seed in range(7)], lambda _, done, total: progress.append((done, total))
    )
    assert texts == [f"text for seed {seed}" for seed in range(7)]
    assert scenario.max_in_flight == 3
    assert progress[-1] == (7, 7) and len(progress) == 7


@pytest.mark.skipif(
    not os.environ.get("ASEBENCH_OPENAI_BASE_URL"),
    reason="set ASEBENCH_OPENAI_BASE_URL (and _MODEL) to test a real endpoint",
)
def test_a_real_endpoint_answers_the_llm_prompt() -> None:
    client = make_backend("openai", {"max_tokens": 64, "timeout": 120})
    assert client.availability() is None
    text = client.generate(
        TextRequest(role="llm", prompt=LLM_PROMPT, text="The pink dot group is in the middle. Classes: normal, type1.")
    )
    assert isinstance(text, str) and text.strip()
