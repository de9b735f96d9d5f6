"""The ``ase-synth`` dataset: synthetic ASE-like AOI images, generated once into a cache.

Cache layout: ``<root>/v<VERSION>-<hash>/`` with one ``<id>.png`` per sample
and ``manifest.json``, where ``<root>`` is ``cache_dir("datasets", "ase-synth")``
(or the ``cache_dir`` option) and ``<hash>`` covers every option that changes
content. The directory is generated under a temporary sibling name and renamed
into place only when complete, so a killed generation leaves at most an
ignored ``.v<VERSION>-<hash>.tmp-*`` directory, never a half cache that is
later trusted. Later loads read the manifest and never regenerate.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from pydantic import Field

from asebench.api.data import AdapterOptions, AugmentationPolicy, DatasetAdapter, LoadedDataset, Sample
from asebench.api.errors import DatasetError
from asebench.api.registry import register_dataset
from asebench.datasets.ase_synth import clouds, rendering
from asebench.datasets.ase_synth import generator as gen
from asebench.store.atomic import atomic_write_bytes
from asebench.store.generated import MANIFEST, generated_location, generation_workers
from asebench.store.generated import ensure_generated as ensure_generated_directory

_T = TypeVar("_T")


class AseSynthOptions(AdapterOptions):
    """Knobs of the synthetic generator; all but ``cache_dir`` change the content (and the cache key)."""

    seed: int = Field(0, ge=0, description="base seed; sample i of class c uses default_rng([seed, c, i])")
    separation: float = Field(
        1.0,
        ge=0.0,
        le=100.0,
        allow_inf_nan=False,
        description="defect difficulty: 0 = defects indistinguishable from normal, larger = easier",
    )
    scale: float = Field(
        1.0,
        gt=0.0,
        le=100.0,
        allow_inf_nan=False,
        description="multiplies the per-class counts 225/92/44/50/44 (each class keeps at least 5)",
    )
    points_scale: float = Field(
        1.0,
        gt=0.0,
        le=20.0,
        allow_inf_nan=False,
        description="multiplies the 20k-60k dots per image (tests use small values for speed)",
    )
    image_width: int = Field(rendering.DEFAULT_WIDTH, ge=rendering.MIN_WIDTH, le=4096)
    image_height: int = Field(rendering.DEFAULT_HEIGHT, ge=rendering.MIN_HEIGHT, le=4096)
    cache_dir: Path | None = Field(
        None, description="parent directory of the generated cache (default: the asebench cache)"
    )

    def content_options(self) -> dict[str, Any]:
        """The options that determine pixels and numbers (the cache location does not)."""
        return self.model_dump(mode="json", exclude={"cache_dir"})


def cache_location(options: AseSynthOptions) -> Path:
    """Final directory of the generated dataset for these options (not created here)."""
    return generated_location("ase-synth", gen.GENERATOR_VERSION, options.content_options(), options.cache_dir)


def ensure_generated(options: AseSynthOptions) -> Path:
    """Return the complete cache directory, generating it first if it does not exist yet."""
    return ensure_generated_directory(cache_location(options), lambda staging: _render_all(staging, options))


def _render_all(directory: Path, options: AseSynthOptions) -> dict[str, Any]:
    """Write one PNG per sample into ``directory`` and return the manifest payload.

    Samples are independent (own RNG, shared read-only assets), so a small
    thread pool overlaps numpy, zlib and disk work, which release the GIL;
    results come back in plan order, so the output does not depend on timing.
    """
    assets = rendering.build_assets(options.image_width, options.image_height)
    plan = gen.sample_plan(options.scale)

    def render_one(item: tuple[str, str, int]) -> dict[str, Any]:
        sample_id, label, number = item
        rendered = gen.generate_sample(
            label,
            number,
            seed=options.seed,
            separation=options.separation,
            points_scale=options.points_scale,
            assets=assets,
        )
        file_name = f"{sample_id}.png"
        atomic_write_bytes(directory / file_name, gen.encode_png(rendered.image))
        return {"id": sample_id, "label": label, "file": file_name, "metadata": rendered.stats.as_metadata()}

    pool = ThreadPoolExecutor(max_workers=generation_workers(), thread_name_prefix="ase-synth")
    try:
        results = pool.map(render_one, plan)
        entries = list(_progress(results, len(plan), f"Generating ase-synth ({len(plan)} images)"))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return {
        "dataset": AseSynth.name,
        "generator_version": gen.GENERATOR_VERSION,
        "options": options.content_options(),
        "class_names": list(clouds.CLASS_NAMES),
        "normal_class": clouds.NORMAL_CLASS,
        "samples": entries,
    }


def _progress(items: Iterable[_T], total: int, description: str) -> Iterable[_T]:
    """A rich progress bar on an interactive terminal; the plain iterable otherwise (pytest, logs)."""
    if not sys.stderr.isatty():
        return items
    from rich.console import Console
    from rich.progress import track

    return track(items, total=total, description=description, console=Console(stderr=True), transient=True)


def read_manifest(directory: Path, options: AseSynthOptions) -> list[Sample]:
    """Samples of a complete cache directory, after checking it belongs to these options."""
    path = directory / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DatasetError(
            f"ase-synth cache {directory} has no readable {MANIFEST} ({exc}); delete the directory to regenerate it"
        ) from exc
    expected = (gen.GENERATOR_VERSION, options.content_options())
    if not isinstance(manifest, dict) or (manifest.get("generator_version"), manifest.get("options")) != expected:
        raise DatasetError(
            f"ase-synth cache {directory} was written for other options or another generator version; "
            "delete it to regenerate"
        )
    try:
        return list(_samples(directory, manifest["samples"]))
    except (KeyError, TypeError) as exc:
        raise DatasetError(
            f"ase-synth cache {directory} has a malformed {MANIFEST} ({exc!r}); delete the directory to regenerate it"
        ) from exc


def _samples(directory: Path, entries: list[dict[str, Any]]) -> Iterator[Sample]:
    for entry in entries:
        image = directory / entry["file"]
        if not image.is_file():
            raise DatasetError(
                f"ase-synth cache {directory} lacks {entry['file']}; delete the directory to regenerate it"
            )
        yield Sample(id=entry["id"], label=entry["label"], image=image, metadata=dict(entry["metadata"]))


@register_dataset("ase-synth")
class AseSynth(DatasetAdapter):
    """Embedded default dataset: 455 synthetic AOI drill-offset plots in the paper's five classes.

    ``metadata`` of every sample holds exactly the numbers printed on its image
    (``count_r05``..``count_r50``, ``x_avg``, ``y_avg``, ``x_std``, ``y_std``)
    plus their sum ``n_points``; nothing about the latent defect parameters.
    """

    name: ClassVar[str] = "ase-synth"
    version: ClassVar[str] = gen.GENERATOR_VERSION
    description: ClassVar[str] = (
        "Synthetic ASE-like AOI images (polar DX/DY drill-offset plot + printed statistics), "
        "normal/type1..type4 = 225/92/44/50/44, generated deterministically into the cache"
    )
    augmentation: ClassVar[AugmentationPolicy] = AugmentationPolicy(geometric=False, photometric=True)
    Options: ClassVar[type[AdapterOptions]] = AseSynthOptions

    def load(self) -> LoadedDataset:
        """Generate on first use, then read the cached manifest."""
        options = self.options
        if not isinstance(options, AseSynthOptions):
            raise TypeError(f"ase-synth expects AseSynthOptions, got {type(options).__name__}")
        samples = read_manifest(ensure_generated(options), options)
        return LoadedDataset.build(self, samples, clouds.CLASS_NAMES, clouds.NORMAL_CLASS)
