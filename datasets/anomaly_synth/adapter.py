"""The ``anomaly-synth`` dataset: generated MVTec-style anomaly data with exact pixel masks, in two domains.

Generated once into the cache in MVTec AD's layout and read back through
:func:`asebench.datasets.mvtec.load_layout`, the ``mvtec`` adapter's own
reader, so both datasets label images, pair masks and fill the metadata
(``category``, ``defect_type``, ``official_split``) the same way.

Cache layout: ``<root>/v<VERSION>-<hash>/<category>/{train,test,ground_truth}/...``
plus ``manifest.json``, where ``<root>`` is ``cache_dir("datasets", "anomaly-synth")``
(or the ``cache_dir`` option) and ``<hash>`` covers every option that changes
content. The folder is written under a temporary sibling name and renamed into
place only when complete; later loads never regenerate.

``domain`` is an option: one generator then guarantees that both domains hold
the same categories, kinds and scenes, while the domain changes the cache key,
the fingerprint and every cell's config hash. The same adapter is registered a
second time as ``anomaly-synth-b`` with ``domain: b`` preset, because
``dataset_options`` are keyed by dataset name: a ``transfer`` run fits on one
name and scores the other (``split: {protocol: transfer, train: anomaly-synth,
test: anomaly-synth-b}``). Records keep the adapter's name (``dataset.name``
``anomaly-synth``) and the domain in ``dataset.options``; the cell key names
the registered name.

Defaults: 6 categories x (40 train/good + 12 test/good + 4 per defect kind,
4 kinds for textures, 5 for objects) = 420 images of 128x128 px plus 108
masks, about 15 MB (noisy PNGs); generating them takes about 4 s on 2 busy CPU cores.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from asebench.api.data import AdapterOptions, DatasetAdapter, LoadedDataset
from asebench.api.errors import DatasetError
from asebench.api.registry import register_dataset
from asebench.datasets.anomaly_synth import generator as gen
from asebench.datasets.anomaly_synth.scenes import CATEGORIES
from asebench.datasets.mvtec import NORMAL, load_layout
from asebench.store.atomic import atomic_write_bytes
from asebench.store.generated import MANIFEST, generated_location, generation_workers
from asebench.store.generated import ensure_generated as ensure_generated_directory


class AnomalySynthOptions(AdapterOptions):
    """Knobs of the generator; all but ``cache_dir`` change the content (and the cache key)."""

    seed: int = Field(0, ge=0, description="base seed; every image has its own stream (see generator)")
    domain: Literal["a", "b"] = Field(
        "a", description="a: bright, cool, fine textures, even light; b: dark, warm, coarse, spotlit"
    )
    categories: list[str] = Field(
        default_factory=lambda: list(CATEGORIES),
        description=f"which of {', '.join(CATEGORIES)} to generate (textures first, then objects)",
    )
    image_size: int = Field(128, ge=32, le=1024, description="square image side in pixels")
    train_per_category: int = Field(40, ge=1, le=10_000, description="normal images in <category>/train/good")
    test_good_per_category: int = Field(12, ge=1, le=10_000, description="normal images in <category>/test/good")
    test_defect_per_kind: int = Field(4, ge=1, le=10_000, description="images per <category>/test/<kind>")
    cache_dir: Path | None = Field(
        None, description="parent directory of the generated cache (default: the asebench cache)"
    )

    @field_validator("categories")
    @classmethod
    def _known_categories(cls, value: list[str]) -> list[str]:
        """Known names, at least one, no repeats; kept in the canonical order so equal sets share a cache."""
        unknown = [name for name in value if name not in CATEGORIES]
        if unknown:
            raise ValueError(
                f"unknown categor{'y' if len(unknown) == 1 else 'ies'} {unknown} (known: {list(CATEGORIES)})"
            )
        if not value:
            raise ValueError("at least one category is needed")
        if len(set(value)) != len(value):
            raise ValueError(f"a category is listed twice: {value}")
        return [name for name in CATEGORIES if name in value]

    def content_options(self) -> dict[str, Any]:
        """The options that determine the pixels (the cache location does not)."""
        return self.model_dump(mode="json", exclude={"cache_dir"})


def cache_location(options: AnomalySynthOptions) -> Path:
    """Final directory of the generated dataset for these options (not created here)."""
    return generated_location("anomaly-synth", gen.GENERATOR_VERSION, options.content_options(), options.cache_dir)


def ensure_generated(options: AnomalySynthOptions) -> Path:
    """Return the complete cache directory, generating it first if it does not exist yet."""
    return ensure_generated_directory(cache_location(options), lambda staging: _write_all(staging, options))


def _write_all(directory: Path, options: AnomalySynthOptions) -> dict[str, Any]:
    """Every image and mask into ``directory``; returns the manifest."""
    return {
        "dataset": AnomalySynth.name,
        "generator_version": gen.GENERATOR_VERSION,
        "options": options.content_options(),
        "images_per_folder": write_images(directory, options),
    }


def write_images(directory: Path, options: AnomalySynthOptions) -> dict[str, int]:
    """Render every image (and mask) of ``options`` into ``directory``; returns images per folder.

    Images are independent (own random streams), so a small thread pool
    overlaps numpy, zlib and disk work; the output does not depend on timing.
    """
    specs = gen.plan(
        options.categories, options.train_per_category, options.test_good_per_category, options.test_defect_per_kind
    )

    def write_one(spec: gen.ImageSpec) -> None:
        rendered = gen.generate(spec, seed=options.seed, domain=options.domain, size=options.image_size)
        image_path = directory / spec.image_path
        image_path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(image_path, gen.encode_png(rendered.image))
        if spec.mask_path is not None and rendered.mask is not None:
            mask_path = directory / spec.mask_path
            mask_path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(mask_path, gen.encode_mask(rendered.mask))

    with ThreadPoolExecutor(max_workers=generation_workers(), thread_name_prefix="anomaly-synth") as pool:
        list(pool.map(write_one, specs))
    counts: dict[str, int] = {}
    for spec in specs:
        folder = f"{spec.category}/{spec.part}/{spec.kind}"
        counts[folder] = counts.get(folder, 0) + 1
    return counts


def check_manifest(directory: Path, options: AnomalySynthOptions) -> None:
    """Fail clearly when the cache folder is not the complete output of these options."""
    path = directory / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DatasetError(
            f"anomaly-synth cache {directory} has no readable {MANIFEST} ({exc}); delete the directory to regenerate it"
        ) from exc
    expected = (gen.GENERATOR_VERSION, options.content_options())
    if not isinstance(manifest, dict) or (manifest.get("generator_version"), manifest.get("options")) != expected:
        raise DatasetError(
            f"anomaly-synth cache {directory} was written for other options or another generator version; "
            "delete it to regenerate"
        )


@register_dataset("anomaly-synth-b", domain="b")
@register_dataset("anomaly-synth")
class AnomalySynth(DatasetAdapter):
    """Generated anomaly data in the MVTec AD layout: textures and objects, exact masks, domains a and b.

    Classes: ``good`` plus the defect kinds (``<category>/<kind>`` when
    several categories are loaded, as for ``mvtec``). Sample metadata:
    ``category``, ``defect_type``, ``official_split`` (``train``: the normal
    training images; ``test``: normal and defective test images).
    """

    name: ClassVar[str] = "anomaly-synth"
    version: ClassVar[str] = gen.GENERATOR_VERSION
    description: ClassVar[str] = (
        "Generated MVTec-style anomaly data (3 textures, 3 objects; scratch/hole/stain/crack/missing/extra part) "
        "with exact pixel masks, in two visual domains (option domain: a|b)"
    )
    Options: ClassVar[type[AdapterOptions]] = AnomalySynthOptions

    def load(self) -> LoadedDataset:
        """Generate on first use, then read the folders like ``mvtec`` does."""
        options = self.options
        if not isinstance(options, AnomalySynthOptions):
            raise TypeError(f"anomaly-synth expects AnomalySynthOptions, got {type(options).__name__}")
        directory = ensure_generated(options)
        check_manifest(directory, options)
        samples, class_names = load_layout(directory)
        return LoadedDataset.build(self, samples, class_names, NORMAL)
