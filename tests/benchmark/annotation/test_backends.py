"""Generic text backends: the registry, transformers and the JSONL cache."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from PIL import Image

from asebench.annotation.backends import (
    BACKENDS,
    JsonlCacheBackend,
    TextBackend,
    TextRecord,
    TextRequest,
    make_backend,
    register_backend,
    write_text_records,
)
from asebench.annotation.backends.transformers_local import (
    build_messages,
    generated_text,
    model_directory_digest,
)
from asebench.annotation.errors import BackendError
from asebench.api.errors import ConfigError
from asebench.domains.ase.prompts import LLM_PROMPT, VLM_PROMPT


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def vlm_request(image: Image.Image, seed: int = 0) -> TextRequest:
    return TextRequest(role="vlm", prompt=VLM_PROMPT, image_png=png(image), seed=seed, sample_id="s")


# --------------------------------------------------------------------------- registry


def test_the_generic_backends_are_registered_and_built_by_name() -> None:
    assert {"openai", "transformers", "cache"} <= set(BACKENDS)
    assert list(BACKENDS)[:3] == ["openai", "transformers", "cache"]
    for name in ("openai", "transformers", "cache"):
        backend = make_backend(name)
        assert backend.name == name and isinstance(backend.provenance(), dict)
    with pytest.raises(ConfigError, match="unknown text backend 'gpt'"):
        make_backend("gpt")
    with pytest.raises(ConfigError, match="bad options"):
        make_backend("cache", {"temperature": 1.0})


def test_a_registered_backend_is_offered_and_a_taken_name_is_refused() -> None:
    class Echo(TextBackend):
        name = "test-echo"
        kind = "echo for tests, not a language model"

        def generate(self, request: TextRequest) -> str:
            return request.prompt

    assert register_backend(Echo) is Echo and register_backend(Echo) is Echo  # the same class again is fine
    try:
        assert make_backend("test-echo").generate(TextRequest("llm", "hello")) == "hello"

        class Impostor(Echo):
            pass

        with pytest.raises(ValueError, match="already registered"):
            register_backend(Impostor)
        with pytest.raises(ValueError, match="has no name"):
            register_backend(type("Nameless", (Echo,), {"name": ""}))
    finally:
        from asebench.annotation.backends import registry

        registry._REGISTERED.pop("test-echo", None)
    assert "test-echo" not in BACKENDS


# --------------------------------------------------------------------------- transformers


def test_transformers_explains_what_is_missing(tmp_path: Path) -> None:
    assert "needs model_path" in (make_backend("transformers").availability() or "")
    missing = make_backend("transformers", {"model_path": str(tmp_path / "nope")})
    assert "is not a directory" in (missing.availability() or "")
    (tmp_path / "empty").mkdir()
    empty = make_backend("transformers", {"model_path": str(tmp_path / "empty")})
    assert "no config.json" in (empty.availability() or "")
    with pytest.raises(BackendError, match=r"unavailable: .*no config\.json"):
        empty.generate(TextRequest(role="llm", prompt=LLM_PROMPT, text="x"))


def test_transformers_messages_and_outputs(tmp_path: Path) -> None:
    image = Image.new("RGB", (20, 10), (255, 0, 128))
    vlm = build_messages(vlm_request(image))
    assert vlm[0]["role"] == "user" and len(vlm) == 1
    assert vlm[0]["content"][0]["type"] == "image" and vlm[0]["content"][0]["image"].size == (20, 10)
    assert vlm[0]["content"][1] == {"type": "text", "text": VLM_PROMPT}
    llm = build_messages(TextRequest(role="llm", prompt=LLM_PROMPT, text="A.\n\nB."))
    assert llm == [{"role": "user", "content": f"{LLM_PROMPT}\n\nA.\n\nB."}]
    request = TextRequest(role="llm", prompt="p", text="t", sample_id="s1")
    assert generated_text([{"generated_text": " It is type2. "}], request) == "It is type2."
    chat = [{"generated_text": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "type3"}]}]
    assert generated_text(chat, request) == "type3"
    with pytest.raises(BackendError, match="'s1'"):
        generated_text([{"generated_text": "  "}], request)
    model = tmp_path / "m"
    model.mkdir()
    (model / "config.json").write_text('{"model_type": "llama"}')
    (model / "model.safetensors").write_bytes(b"0" * 10)
    first = model_directory_digest(model)
    (model / "config.json").write_text('{"model_type": "qwen2"}')
    assert model_directory_digest(model) != first
    backend = make_backend("transformers", {"model_path": str(model)})
    assert backend.model == "m" and backend.provenance()["model_path"] == str(model)


# --------------------------------------------------------------------------- JSONL cache


def test_the_jsonl_cache_answers_by_sample_id_or_image_hash_and_seed(tmp_path: Path) -> None:
    path = tmp_path / "texts.jsonl"
    write_text_records(
        path,
        [
            TextRecord("vlm", "seed zero", sample_id="a", seed=0),
            TextRecord("vlm", "seed one", sample_id="a", seed=1),
            TextRecord("llm", "any seed", image_sha256="f" * 64),
        ],
    )
    backend = make_backend("cache", {"path": str(path)})
    assert isinstance(backend, JsonlCacheBackend) and backend.availability() is None
    image = b"png"
    assert backend.generate(TextRequest("vlm", VLM_PROMPT, image_png=image, seed=1, sample_id="a")) == "seed one"
    assert (
        backend.generate(TextRequest("llm", LLM_PROMPT, "t", seed=7, sample_id="b", image_sha256="f" * 64))
        == "any seed"
    )
    with pytest.raises(BackendError, match=r"sample 'a' has vlm texts for seed\(s\) \[0, 1\] but not for seed 2"):
        backend.generate(TextRequest("vlm", VLM_PROMPT, image_png=image, seed=2, sample_id="a"))
    with pytest.raises(BackendError, match="no llm text for sample 'zz'"):
        backend.generate(TextRequest("llm", LLM_PROMPT, "t", sample_id="zz", image_sha256="0" * 64))
    by_hash = make_backend("cache", {"path": str(path), "match": "image_sha256"})
    with pytest.raises(BackendError, match="no vlm text for sample 'a'"):
        by_hash.generate(TextRequest("vlm", VLM_PROMPT, image_png=image, sample_id="a", image_sha256="1" * 64))
    version = backend.version
    path.write_text(path.read_text() + json.dumps({"sample_id": "c", "role": "vlm", "text": "new"}) + "\n")
    assert make_backend("cache", {"path": str(path)}).version != version


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (['{"sample_id": "a", "role": "vlm", "text": "x"}', "not json"], "texts.jsonl:2: not valid JSON"),
        (['{"sample_id": "a", "role": "caption", "text": "x"}'], "'role' must be one of"),
        (['{"role": "vlm", "text": "x"}'], "needs 'sample_id' or 'image_sha256'"),
        (
            ['{"sample_id": "a", "role": "vlm", "text": "x"}', '{"sample_id": "a", "role": "vlm", "text": "y"}'],
            "second, different vlm text",
        ),
    ],
)
def test_a_malformed_jsonl_cache_fails_with_the_line_number(tmp_path: Path, lines: list[str], message: str) -> None:
    path = tmp_path / "texts.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(BackendError, match=message):
        make_backend("cache", {"path": str(path)}).generate(
            TextRequest("vlm", VLM_PROMPT, image_png=b"p", sample_id="a")
        )
    assert "does not exist" in (make_backend("cache", {"path": str(tmp_path / "none.jsonl")}).availability() or "")
