"""Shared fixtures: an isolated cache, offline hubs, and a tiny image-folder dataset."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

TINY_COUNTS: Mapping[str, int] = {"normal": 12, "type1": 8, "type2": 6}


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Point ASEBENCH_CACHE_DIR at a per-session temp dir and keep hubs offline (no download is allowed).

    Set in ``os.environ`` so subprocesses started by tests inherit it too.
    """
    cache = tmp_path_factory.mktemp("asebench-cache")
    saved = {key: os.environ.get(key) for key in ("ASEBENCH_CACHE_DIR", "HF_HUB_OFFLINE", "ASEBENCH_ALLOW_DOWNLOAD")}
    os.environ["ASEBENCH_CACHE_DIR"] = str(cache)
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ.pop("ASEBENCH_ALLOW_DOWNLOAD", None)
    yield cache
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def draw_tiny_image(label: str, index: int, size: int = 32) -> np.ndarray:
    """A noisy grey square; defect classes carry a bright bar (type1 horizontal, type2 vertical).

    The cue is large and high-contrast so a small CNN learns it in an epoch or
    two; the noise makes every file distinct.
    """
    rng = np.random.default_rng([sum(map(ord, label)), index])
    image = rng.integers(40, 90, size=(size, size, 3)).astype(np.uint8)
    band = slice(size // 2 - size // 8, size // 2 + size // 8)
    if label == "type1":
        image[band, :, :] = (230, 60, 60)
    elif label == "type2":
        image[:, band, :] = (60, 60, 230)
    elif label != "normal":
        image[: size // 4, : size // 4, :] = 250
    return image


TinyFolderFactory = Callable[..., Path]


def write_tiny_folder(root: Path, counts: Mapping[str, int] | None = None, size: int = 32) -> Path:
    """Write ``root/<class>/img_XXX.png`` with :func:`draw_tiny_image`; returns ``root``."""
    for label, count in (counts or TINY_COUNTS).items():
        folder = root / label
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(count):
            Image.fromarray(draw_tiny_image(label, i, size)).save(folder / f"img_{i:03d}.png")
    return root


@pytest.fixture(scope="session")
def tiny_folder_writer() -> Callable[..., Path]:
    """:func:`write_tiny_folder`, for fixtures of a wider scope than ``tiny_folder_dataset``."""
    return write_tiny_folder


@pytest.fixture()
def tiny_folder_dataset(tmp_path: Path) -> TinyFolderFactory:
    """Factory writing ``root/<class>/img_XXX.png`` (default normal/type1/type2 = 12/8/6, 32x32).

    Call it as ``tiny_folder_dataset()`` or ``tiny_folder_dataset("name", counts={...}, size=32)``;
    it returns the dataset root.
    """

    def make(name: str = "tiny", counts: Mapping[str, int] | None = None, size: int = 32) -> Path:
        return write_tiny_folder(tmp_path / name, counts, size)

    return make


REPO_ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture()
def cli_env() -> dict[str, str]:
    """Environment for CLI subprocesses: offline, wide output (no wrapped table cells), UTF-8."""
    env = dict(os.environ)
    env.update({"COLUMNS": "400", "PYTHONIOENCODING": "utf-8", "HF_HUB_OFFLINE": "1", "NO_COLOR": "1"})
    env.pop("FORCE_COLOR", None)
    return env


@pytest.fixture()
def run_cli(cli_env: dict[str, str]) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run the installed ``asebench`` console script: ``run_cli("list", "--plugin", ...)``."""
    import sys

    script = Path(sys.executable).with_name("asebench")

    def call(
        *args: str, cwd: Path = REPO_ROOT, env: Mapping[str, str] | None = None, timeout: float = 240
    ) -> subprocess.CompletedProcess[str]:
        merged = {**cli_env, **(env or {})}
        return subprocess.run(
            [str(script), *map(str, args)], cwd=cwd, env=merged, capture_output=True, text=True, timeout=timeout
        )

    return call


@pytest.fixture()
def write_run_config(tmp_path: Path) -> Callable[..., Path]:
    """Write a YAML run config for the ``folder`` dataset at ``root``; extra keys merge in."""
    import yaml

    def write(root: Path, name: str = "run.yaml", **extra: object) -> Path:
        data: dict[str, object] = {
            "datasets": ["folder"],
            "dataset_options": {"folder": {"root": str(root)}},
            "device": "cpu",
            "bootstrap": {"samples": 10},
        }
        data.update(extra)
        path = tmp_path / name
        path.write_text(yaml.safe_dump(data), encoding="utf-8")
        return path

    return write


@pytest.fixture()
def call_main(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[..., tuple[int, str, str]]:
    """Run ``asebench.cli.main`` in-process (the console script's code path, no new interpreter) on wide consoles."""
    from asebench.cli import main
    from asebench.cli.console import console, error_console

    monkeypatch.setattr(console, "_width", 400)
    monkeypatch.setattr(error_console, "_width", 400)

    def call(*args: object) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "argv", ["asebench", *map(str, args)])
        capsys.readouterr()
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        out, err = capsys.readouterr()
        return code, out, err

    return call


class FakeHub:
    """A Hugging Face hub on 127.0.0.1 serving ``files[(repo, filename)]``: what ``hf_hub_download`` asks of one.

    ``HEAD``/``GET {endpoint}/{repo}/resolve/{revision}/{filename}`` answer with the headers the
    client needs (``X-Repo-Commit``, ``ETag``, ``Content-Length``); an unknown file is a 404 with
    ``X-Error-Code: EntryNotFound``. ``requests`` lists the paths asked for.
    """

    COMMIT = "0123456789abcdef0123456789abcdef01234567"

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.files: dict[tuple[str, str], bytes] = {}
        self.requests: list[str] = []


@pytest.fixture()
def fake_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    """A local hub with downloads allowed for this test only: HF_ENDPOINT on it, the HF cache in ``tmp_path``.

    huggingface_hub reads its endpoint, cache and offline switch at import, so its constants are
    patched as well as the environment (and restored after the test).
    """
    import hashlib
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from huggingface_hub import constants

    hub: FakeHub

    class Handler(BaseHTTPRequestHandler):
        def _answer(self, body: bool) -> None:
            hub.requests.append(self.path)
            repo, _, rest = self.path.lstrip("/").partition("/resolve/")
            _, _, filename = rest.partition("/")
            data = hub.files.get((repo, filename))
            self.send_response(200 if data is not None else 404)
            self.send_header("X-Repo-Commit", FakeHub.COMMIT)
            if data is None:
                self.send_header("X-Error-Code", "EntryNotFound")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if body:
                self.wfile.write(data)

        def do_HEAD(self) -> None:
            self._answer(body=False)

        def do_GET(self) -> None:
            self._answer(body=True)

        def log_message(self, format: str, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    hub = FakeHub(endpoint)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    cache = tmp_path / "hf-home" / "hub"
    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "ENDPOINT", endpoint)
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", endpoint + "/{repo_id}/resolve/{revision}/{filename}")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
    try:
        yield hub
    finally:
        server.shutdown()
        server.server_close()
