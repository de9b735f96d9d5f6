"""``transformers``: a generative model from a local directory, run with Hugging Face transformers.

The VLM role uses the ``image-text-to-text`` pipeline, the LLM role the
``text-generation`` pipeline, both with chat messages (one user turn, no
system message, like the ``openai`` backend). Nothing is downloaded:
``model_path`` must be a complete model directory (``config.json`` plus
weights, tokenizer/processor files), and the weights load with
``local_files_only=True``.

The pipeline is built on first use and kept by the backend instance.
``version`` is a sha256 over the directory's small JSON files (config,
generation config, tokenizer config) and the names and sizes of its weight
files: cheap to compute, and it changes when the model is replaced. Sampling
is seeded per request (``transformers.set_seed``), so a pool of seeds gives
reproducible, different texts when ``do_sample`` is on.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import io
import threading
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field

from asebench.annotation.backends.base import BackendOptions, TextBackend, TextRequest
from asebench.annotation.errors import BackendError

_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf")
_TASKS = {"vlm": "image-text-to-text", "llm": "text-generation"}


class TransformersOptions(BackendOptions):
    """``model_path`` (required): a local model directory. Generation settings follow transformers' names."""

    model_path: Path | None = None
    max_new_tokens: int = Field(256, ge=1)
    do_sample: bool = True
    temperature: float = Field(0.7, gt=0.0)
    top_p: float = Field(0.95, gt=0.0, le=1.0)
    device: str = "cpu"
    dtype: str = "auto"
    trust_remote_code: bool = False


class TransformersBackend(TextBackend):
    """A local transformers model for the VLM or LLM role (see the module docstring)."""

    name: ClassVar[str] = "transformers"
    kind: ClassVar[str] = "local transformers model"
    Options: ClassVar[type[BackendOptions]] = TransformersOptions

    def __init__(self, options: BackendOptions | None = None) -> None:
        super().__init__(options)
        self._pipelines: dict[str, Any] = {}
        self._lock = threading.Lock()

    @property
    def _opts(self) -> TransformersOptions:
        assert isinstance(self.options, TransformersOptions)
        return self.options

    @property
    def model(self) -> str:
        path = self._opts.model_path
        return path.name if path is not None else ""

    @functools.cached_property
    def version(self) -> str:
        path = self._opts.model_path
        if path is None or not path.is_dir():
            return "missing"
        return model_directory_digest(path)

    def availability(self) -> str | None:
        path = self._opts.model_path
        if path is None:
            return "the transformers backend needs model_path: a local model directory (nothing is downloaded)"
        if not path.is_dir():
            return f"model_path {path} is not a directory; point it at a downloaded model folder"
        if not (path / "config.json").is_file():
            return f"model_path {path} has no config.json; it must be a complete transformers model folder"
        if importlib.util.find_spec("transformers") is None or importlib.util.find_spec("torch") is None:
            return "the transformers backend needs torch and transformers: pip install 'asebench[multimodal]'"
        return None

    def provenance(self) -> dict[str, Any]:
        opts = self._opts
        return {
            **super().provenance(),
            "model_path": str(opts.model_path) if opts.model_path is not None else None,
            "max_new_tokens": opts.max_new_tokens,
            "do_sample": opts.do_sample,
            "temperature": opts.temperature,
            "top_p": opts.top_p,
        }

    def generate(self, request: TextRequest) -> str:
        reason = self.availability()
        if reason is not None:
            raise BackendError(f"transformers backend unavailable: {reason}")
        import transformers

        pipe = self._pipeline(request.role)
        opts = self._opts
        settings: dict[str, Any] = {"max_new_tokens": opts.max_new_tokens, "do_sample": opts.do_sample}
        if opts.do_sample:
            settings.update(temperature=opts.temperature, top_p=opts.top_p)
        with self._lock:  # set_seed is process-wide: seed and generate as one step
            transformers.set_seed(request.seed)
            try:
                # positional: text-generation names it text_inputs, image-text-to-text accepts a chat first
                output = pipe(build_messages(request), return_full_text=False, **settings)
            except Exception as exc:  # transformers raises many types; name the sample
                raise BackendError(f"transformers: generation failed for sample {request.sample_id!r}: {exc}") from exc
        return generated_text(output, request)

    def _pipeline(self, role: str) -> Any:
        if role not in self._pipelines:
            opts = self._opts
            try:
                self._pipelines[role] = _load_pipeline(role, opts)
            except Exception as exc:
                raise BackendError(f"transformers: cannot load {opts.model_path} as {_TASKS[role]}: {exc}") from exc
        return self._pipelines[role]


def _load_pipeline(role: str, opts: TransformersOptions) -> Any:
    """Model and tokenizer/processor loaded with ``local_files_only=True``, then wrapped in the role's pipeline.

    Loading them here (rather than passing the path to ``pipeline``) is what
    makes ``local_files_only`` apply: given to ``pipeline`` it would also be
    forwarded to ``generate()`` as an unknown model argument.
    """
    import transformers

    common: dict[str, Any] = {"local_files_only": True, "trust_remote_code": opts.trust_remote_code}
    path = str(opts.model_path)
    if role == "vlm":
        model = transformers.AutoModelForImageTextToText.from_pretrained(path, dtype=opts.dtype, **common)
        processor = transformers.AutoProcessor.from_pretrained(path, **common)
        return transformers.pipeline("image-text-to-text", model=model, processor=processor, device=opts.device)
    model = transformers.AutoModelForCausalLM.from_pretrained(path, dtype=opts.dtype, **common)
    tokenizer = transformers.AutoTokenizer.from_pretrained(path, **common)
    return transformers.pipeline("text-generation", model=model, tokenizer=tokenizer, device=opts.device)


def build_messages(request: TextRequest) -> list[dict[str, Any]]:
    """Chat messages for one request: a single user turn, the image first for the VLM."""
    if request.role == "vlm":
        from PIL import Image

        assert request.image_png is not None
        image = Image.open(io.BytesIO(request.image_png)).convert("RGB")
        content: list[dict[str, Any]] = [
            {"type": "image", "image": image},
            {"type": "text", "text": request.user_text()},
        ]
        return [{"role": "user", "content": content}]
    return [{"role": "user", "content": request.user_text()}]


def generated_text(output: Any, request: TextRequest) -> str:
    """The new text of a pipeline result (a string, or the last chat message when a chat is returned)."""
    try:
        first = output[0]
        if isinstance(first, list):
            first = first[0]
        text = first["generated_text"]
    except (IndexError, KeyError, TypeError):
        raise BackendError(f"transformers: unexpected pipeline output for sample {request.sample_id!r}") from None
    if isinstance(text, list):  # the whole chat came back: take the assistant's turn
        text = text[-1].get("content", "") if text and isinstance(text[-1], dict) else ""
    if not isinstance(text, str) or not text.strip():
        raise BackendError(f"transformers: the model generated no text for sample {request.sample_id!r}")
    return text.strip()


def model_directory_digest(path: Path) -> str:
    """Short sha256 over a model folder's small JSON files and its weight files' names and sizes."""
    digest = hashlib.sha256()
    for item in sorted(path.rglob("*")):
        if not item.is_file():
            continue
        relative = item.relative_to(path).as_posix()
        if item.suffix == ".json" and item.stat().st_size < 10_000_000:
            digest.update(f"{relative}\n".encode() + item.read_bytes())
        elif item.suffix in _WEIGHT_SUFFIXES:
            digest.update(f"{relative}:{item.stat().st_size}\n".encode())
    return digest.hexdigest()[:16]
