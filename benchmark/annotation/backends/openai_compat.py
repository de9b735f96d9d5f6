"""``openai``: any OpenAI-compatible chat-completions endpoint (vLLM, Ollama, llama.cpp server, hosted APIs).

One user message per request, no system message: the prompt (plus, for the
LLM, the input text after a blank line) as a text part, and for the VLM the
image as a ``data:image/png;base64`` URL part; ``temperature``, ``seed`` and
``max_tokens`` as given. ``base_url``, ``model`` and ``api_key`` come from
the options or from ``ASEBENCH_OPENAI_BASE_URL``, ``ASEBENCH_OPENAI_MODEL``,
``ASEBENCH_OPENAI_API_KEY`` (falling back to ``OPENAI_API_KEY``).

Failures: HTTP 429 and 5xx and connection errors/timeouts are retried up to
``max_retries`` times with exponential backoff (``backoff_base * 2**attempt``,
at most ``backoff_max`` seconds, plus up to 10 % jitter); a ``Retry-After``
header, in seconds or as an HTTP date, replaces the backoff (same cap). Other
HTTP errors fail at once. ``generate_many`` runs at most ``max_concurrency``
requests at a time.

The API key is only ever put in the ``Authorization`` header: it is redacted
from every error message and log line and never appears in provenance.
``model_version`` names the served weights when the model name alone does not
(it is part of the cache key: change it when the endpoint's model changes).
"""

from __future__ import annotations

import base64
import email.utils
import logging
import math
import os
import random
import time
from collections.abc import Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from datetime import datetime, timezone
from typing import Any, ClassVar
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, SecretStr

from asebench.annotation.backends.base import (
    BackendOptions,
    ProgressCallback,
    TextBackend,
    TextRequest,
)
from asebench.annotation.errors import BackendError

log = logging.getLogger(__name__)

ENV_BASE_URL = "ASEBENCH_OPENAI_BASE_URL"
ENV_MODEL = "ASEBENCH_OPENAI_MODEL"
ENV_API_KEY = "ASEBENCH_OPENAI_API_KEY"
ENV_FALLBACK_API_KEY = "OPENAI_API_KEY"
_RETRY_STATUS = frozenset({429}) | frozenset(range(500, 600))
_SNIPPET = 300


class OpenAIOptions(BackendOptions):
    """Endpoint, model and request settings; unset ``base_url``/``model``/``api_key`` fall back to the environment."""

    base_url: str | None = None
    model: str | None = None
    api_key: SecretStr | None = None
    model_version: str = "unspecified"
    temperature: float = Field(0.7, ge=0.0, le=2.0)
    max_tokens: int = Field(256, ge=1)
    timeout: float = Field(120.0, gt=0.0)
    max_retries: int = Field(4, ge=0)
    backoff_base: float = Field(1.0, ge=0.0)
    backoff_max: float = Field(60.0, ge=0.0)
    max_concurrency: int = Field(4, ge=1)


class OpenAICompatBackend(TextBackend):
    """Chat completions over HTTP with retries and bounded concurrency (see the module docstring)."""

    name: ClassVar[str] = "openai"
    kind: ClassVar[str] = "OpenAI-compatible chat-completions endpoint"
    Options: ClassVar[type[BackendOptions]] = OpenAIOptions

    def __init__(self, options: BackendOptions | None = None) -> None:
        super().__init__(options)
        opts = self._opts
        self._base_url = (opts.base_url or os.environ.get(ENV_BASE_URL) or "").rstrip("/")
        self._model = opts.model or os.environ.get(ENV_MODEL) or ""
        secret = opts.api_key.get_secret_value() if opts.api_key is not None else None
        self._api_key = secret or os.environ.get(ENV_API_KEY) or os.environ.get(ENV_FALLBACK_API_KEY) or None
        self._jitter = random.Random()

    @property
    def _opts(self) -> OpenAIOptions:
        assert isinstance(self.options, OpenAIOptions)
        return self.options

    @property
    def model(self) -> str:
        return self._model

    @property
    def version(self) -> str:
        return self._opts.model_version

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={_public_url(self._base_url)!r}, model={self._model!r})"

    def availability(self) -> str | None:
        try:
            import requests  # noqa: F401
        except ImportError:
            return "the openai backend needs the 'requests' package: pip install requests"
        if not self._base_url:
            return (
                f"no endpoint: set {ENV_BASE_URL} or the base_url option to an OpenAI-compatible API "
                "(e.g. http://localhost:8000/v1 for vLLM, http://localhost:11434/v1 for Ollama)"
            )
        if not self._model:
            return f"no model name: set {ENV_MODEL} or the model option to a model the endpoint serves"
        return None

    def provenance(self) -> dict[str, Any]:
        opts = self._opts
        return {
            **super().provenance(),
            "base_url": _public_url(self._base_url),
            "temperature": opts.temperature,
            "max_tokens": opts.max_tokens,
            "api_key_set": self._api_key is not None,
        }

    # ------------------------------------------------------------------ requests

    def payload(self, request: TextRequest) -> dict[str, Any]:
        """The JSON body for one request (public so tests and dry runs can inspect it)."""
        content: list[dict[str, Any]] = [{"type": "text", "text": request.user_text()}]
        if request.role == "vlm" and request.image_png is not None:
            encoded = base64.b64encode(request.image_png).decode("ascii")
            content.append({"type": "image_url", "image_url": {"url": f"data:image/png;base64,{encoded}"}})
        return {
            "model": self._model,
            "messages": [{"role": "user", "content": content}],
            "temperature": self._opts.temperature,
            "seed": request.seed,
            "max_tokens": self._opts.max_tokens,
        }

    def generate(self, request: TextRequest) -> str:
        reason = self.availability()
        if reason is not None:
            raise BackendError(f"openai backend unavailable: {reason}")
        body = self._post(self.payload(request), request)
        return _message_text(body, self._redact, request)

    def generate_many(self, requests: Sequence[TextRequest], progress: ProgressCallback | None = None) -> list[str]:
        """Up to ``max_concurrency`` requests in flight; results in input order; the first failure cancels the rest."""
        if not requests:
            return []
        results: list[str | None] = [None] * len(requests)
        workers = min(self._opts.max_concurrency, len(requests))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="asebench-openai") as pool:
            pending: dict[Future[str], int] = {pool.submit(self.generate, r): i for i, r in enumerate(requests)}
            done_count = 0
            while pending:
                finished, _ = wait(pending, return_when=FIRST_EXCEPTION)
                for future in finished:
                    index = pending.pop(future)
                    error = future.exception()
                    if error is not None:
                        for other in pending:
                            other.cancel()
                        raise error
                    results[index] = future.result()
                    done_count += 1
                    if progress is not None:
                        progress(f"{self.name} {requests[index].role}", done_count, len(requests))
        return [text for text in results if text is not None]

    def _post(self, payload: dict[str, Any], request: TextRequest) -> dict[str, Any]:
        import requests

        url = f"{self._base_url}/chat/completions"
        headers = {"Content-Type": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        opts = self._opts
        attempts = opts.max_retries + 1
        where = f"{_public_url(url)} ({_subject(request)})"
        last = ""
        for attempt in range(attempts):
            retry_after: float | None = None
            try:
                response = requests.post(url, json=payload, headers=headers, timeout=opts.timeout)
            except requests.Timeout:
                last = f"timed out after {opts.timeout:g} s"
            except requests.RequestException as exc:
                last = f"connection failed: {self._redact(str(exc))[:_SNIPPET]}"
            else:
                if response.status_code == 200:
                    try:
                        return dict(response.json())
                    except ValueError:
                        raise BackendError(
                            f"openai: {where} returned invalid JSON: {self._redact(response.text)[:_SNIPPET]!r}"
                        ) from None
                last = f"HTTP {response.status_code}: {self._redact(response.text)[:_SNIPPET]!r}"
                if response.status_code not in _RETRY_STATUS:
                    raise BackendError(f"openai: {where} failed with {last}") from None
                retry_after = _retry_after(response.headers.get("Retry-After"))
            if attempt + 1 < attempts:
                delay = self._delay(attempt, retry_after)
                log.warning(
                    "openai: attempt %d/%d to %s failed (%s); retrying in %.2f s",
                    attempt + 1,
                    attempts,
                    where,
                    last,
                    delay,
                )
                time.sleep(delay)
        raise BackendError(f"openai: {where} failed after {attempts} attempt(s): {last}") from None

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        opts = self._opts
        if retry_after is not None:
            return min(retry_after, opts.backoff_max)
        base = min(opts.backoff_base * 2.0**attempt, opts.backoff_max)
        return base + self._jitter.uniform(0.0, 0.1 * base)

    def _redact(self, text: str) -> str:
        if self._api_key:
            text = text.replace(self._api_key, "***")
        return text


def _retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP date); None when absent or unreadable."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            moment = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        seconds = (moment - datetime.now(timezone.utc)).total_seconds()
    return max(0.0, seconds) if math.isfinite(seconds) else None


def _message_text(body: dict[str, Any], redact: Any, request: TextRequest) -> str:
    """``choices[0].message.content`` as text (plain string or a list of text parts)."""
    try:
        content = body["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise BackendError(
            f"openai: unexpected response for {_subject(request)}: {redact(str(body))[:_SNIPPET]!r}"
        ) from None
    if isinstance(content, list):
        content = "".join(part.get("text", "") for part in content if isinstance(part, dict))
    if not isinstance(content, str) or not content.strip():
        raise BackendError(f"openai: the endpoint returned an empty text for {_subject(request)}")
    return content.strip()


def _subject(request: TextRequest) -> str:
    who = f"sample {request.sample_id!r}" if request.sample_id else "request"
    return f"{who}, {request.role}, seed {request.seed}"


def _public_url(url: str) -> str:
    """The URL without user info, query or fragment (where credentials sometimes hide)."""
    if not url:
        return ""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))
