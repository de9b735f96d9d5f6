"""The memoized ImageDataset: every epoch's tensors equal the full pipeline's, each image decoded once."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("torchvision")

import torch
from PIL import Image
from torchvision.transforms import v2 as T

from asebench.api.data import AugmentationPolicy, Sample
from asebench.components import loaders
from asebench.components.loaders import ImageDataset, Preprocessing, build_transform, make_loader

PRE = Preprocessing(size=24, interpolation="bicubic", mean=(0.5, 0.4, 0.3), std=(0.2, 0.25, 0.3))
AUGMENT = AugmentationPolicy(geometric=True, photometric=True)


def old_style_compose() -> T.Compose:
    """The pipeline as it was written before the memo, spelled out step by step."""
    return T.Compose(
        [
            T.ToImage(),
            T.Resize((24, 24), interpolation=T.InterpolationMode.BICUBIC, antialias=True),
            T.RandomHorizontalFlip(),
            T.RandomVerticalFlip(),
            T.ColorJitter(brightness=0.1, contrast=0.1),
            T.ToDtype(torch.float32, scale=True),
            T.Normalize((0.5, 0.4, 0.3), (0.2, 0.25, 0.3)),
        ]
    )


@pytest.fixture
def samples(tmp_path: Path) -> tuple[Sample, ...]:
    """Six PNGs of different shapes (wide like the real 800x450 ones, and tall)."""
    rng = np.random.default_rng(0)
    found = []
    for i, (width, height) in enumerate([(80, 45), (64, 36), (45, 80), (50, 50), (81, 44), (33, 70)]):
        path = tmp_path / f"{i}.png"
        Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)).save(path)
        found.append(Sample(id=f"s{i}", label="normal" if i % 2 else "defect", image=path))
    return tuple(found)


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The ids of the samples the loaders module decodes, in order."""
    seen: list[str] = []
    real = loaders.load_image

    def counting(sample: Sample, mode: str = "RGB") -> Image.Image:
        seen.append(sample.id)
        return real(sample, mode)

    monkeypatch.setattr(loaders, "load_image", counting)
    return seen


def labels_of(samples: tuple[Sample, ...]) -> np.ndarray:
    return np.array([int(s.label == "defect") for s in samples], dtype=np.int64)


def test_memoized_epochs_equal_the_old_pipeline_and_decode_once(
    samples: tuple[Sample, ...], decodes: list[str]
) -> None:
    """Augmentation on, fixed seeds: the same random draws in the same order give the same tensors bit for bit."""
    memoized = ImageDataset(samples, labels_of(samples), build_transform(PRE, AUGMENT), memoize=True)
    old = old_style_compose()
    for epoch in range(4):
        order = torch.randperm(len(samples), generator=torch.Generator().manual_seed(epoch)).tolist()
        torch.manual_seed(100 + epoch)
        new_items = [memoized[i] for i in order]
        state_after_new = torch.get_rng_state()
        torch.manual_seed(100 + epoch)
        old_items = [old(Image.open(samples[i].image).convert("RGB")) for i in order]
        assert torch.equal(torch.get_rng_state(), state_after_new)  # the same number of draws
        for i, (tensor, label), expected in zip(order, new_items, old_items, strict=True):
            assert tensor.dtype == torch.float32 and torch.equal(tensor, expected)
            assert label == int(samples[i].label == "defect")
    assert sorted(decodes) == sorted(s.id for s in samples)  # each image decoded in the first epoch only


def test_memoized_loader_equals_unmemoized_loader(samples: tuple[Sample, ...]) -> None:
    """Shuffled, seeded loaders over several epochs: batches are identical with and without the memo."""
    labels = labels_of(samples)

    def epochs(memoize: bool) -> list[torch.Tensor]:
        torch.manual_seed(7)
        dataset = ImageDataset(samples, labels, build_transform(PRE, AUGMENT), memoize=memoize)
        loader = make_loader(dataset, batch_size=4, device="cpu", num_workers=0, shuffle=True, seed=3)
        return [images for _ in range(3) for images, _ in loader]

    with_memo, without = epochs(True), epochs(False)
    assert len(with_memo) == len(without) == 6
    assert all(torch.equal(a, b) for a, b in zip(with_memo, without, strict=True))


def test_eval_transform_memo_equals_the_plain_transform(samples: tuple[Sample, ...], decodes: list[str]) -> None:
    """Without augmentation (the validation set): twice over the data, each image decoded once."""
    transform = build_transform(PRE, None)
    memoized = ImageDataset(samples, None, transform, memoize=True)
    for _ in range(2):
        for i, sample in enumerate(samples):
            tensor, label = memoized[i]
            assert label == -1
            assert torch.equal(tensor, transform(Image.open(sample.image).convert("RGB")))
    assert len(decodes) == len(samples)


def test_memo_limit_decodes_again_past_the_bound(samples: tuple[Sample, ...], decodes: list[str]) -> None:
    """A sample's memo entry is 3 x 24 x 24 bytes; with room for two, the rest are decoded every time."""
    memoized = ImageDataset(samples, None, build_transform(PRE, None), memoize=True)
    memoized.memo_limit_bytes = 2 * 3 * 24 * 24
    plain = ImageDataset(samples, None, build_transform(PRE, None))
    for _ in range(2):
        for i in range(len(samples)):
            assert torch.equal(memoized[i][0], plain[i][0])
    assert len(decodes) == 2 * len(samples) + (2 * len(samples) - 2)  # plain: every time; memoized: all but two


def test_pickled_copy_starts_empty_and_yields_the_same(samples: tuple[Sample, ...], decodes: list[str]) -> None:
    """What a DataLoader worker receives: no memo crosses the pipe, and the copy fills its own."""
    memoized = ImageDataset(samples, None, build_transform(PRE, None), memoize=True)
    first = [memoized[i][0] for i in range(len(samples))]
    payload = pickle.dumps(memoized)
    assert len(payload) == len(pickle.dumps(ImageDataset(samples, None, build_transform(PRE, None), memoize=True)))
    copy = pickle.loads(payload)
    decodes.clear()
    assert all(torch.equal(copy[i][0], first[i]) for i in range(len(samples)))
    assert len(decodes) == len(samples)


def test_memoized_loader_with_a_worker_process(samples: tuple[Sample, ...]) -> None:
    """num_workers > 0 (persistent workers): the same batches as the in-process loader without the memo."""
    labels = labels_of(samples)

    def epochs(memoize: bool, workers: int) -> list[torch.Tensor]:
        dataset = ImageDataset(samples, labels, build_transform(PRE, AUGMENT), memoize=memoize)
        loader = make_loader(dataset, batch_size=3, device="cpu", num_workers=workers, shuffle=True, seed=5)
        return [images for _ in range(2) for images, _ in loader]

    with_worker, plain = epochs(True, 1), epochs(False, 1)
    assert all(torch.equal(a, b) for a, b in zip(with_worker, plain, strict=True))


def test_memoize_refuses_what_it_cannot_reuse(samples: tuple[Sample, ...]) -> None:
    """A preparation may differ between calls; a transform without a leading Resize has nothing small to keep."""
    with pytest.raises(ValueError, match="prepare"):
        ImageDataset(samples, None, build_transform(PRE, None), prepare=lambda s, image: image, memoize=True)
    with pytest.raises(ValueError, match="Resize"):
        ImageDataset(samples, None, T.Compose([T.ToImage(), T.ToDtype(torch.float32, scale=True)]), memoize=True)
    with pytest.raises(ValueError, match="Resize"):
        ImageDataset(
            samples, None, T.Compose([T.RandomHorizontalFlip(), *build_transform(PRE, None).transforms]), memoize=True
        )


def test_resize_only_memo_and_unmemoized_custom_transforms(samples: tuple[Sample, ...]) -> None:
    """Nothing left after the memo is fine; a dataset without the memo takes any transform, as before."""
    resize_only = T.Compose([T.ToImage(), T.Resize((24, 24), antialias=True)])
    memoized = ImageDataset(samples, None, resize_only, memoize=True)
    for _ in range(2):
        tensor, _ = memoized[0]
        assert tensor.dtype == torch.uint8 and torch.equal(tensor, resize_only(Image.open(samples[0].image)))
    flip_first = T.Compose([T.RandomHorizontalFlip(p=1.0), T.ToImage(), T.ToDtype(torch.float32, scale=True)])
    assert ImageDataset(samples, None, flip_first)[0][0].shape == (3, 45, 80)
