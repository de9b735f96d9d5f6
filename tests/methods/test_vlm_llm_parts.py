"""The paper model's parts in isolation: options, PFA loss and schedule, fusion, TDA views."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pydantic import ValidationError

from asebench.methods._vlm_llm.options import VlmLlmOptions, resolved_patience

torch = pytest.importorskip("torch")


# -- options --------------------------------------------------------------------------------


def test_defaults_are_the_documented_ones() -> None:
    options = VlmLlmOptions()
    assert options.streams == ["image", "vlm", "llm"]
    assert (options.dim, options.cmaf_heads, options.pfa_temperature, options.pfa_weight) == (512, 8, 0.07, 1.0)
    assert [fraction for fraction, _ in options.pfa_stages] == [0.10, 0.25, 0.50, 1.00]
    assert (options.lr, options.weight_decay, options.epochs, options.batch_size) == (1e-4, 1e-4, 100, 32)
    assert (
        options.ocr == "rapidocr"
        and options.vlm_backend == "dot-cloud-describer"
        and options.llm_backend == "numeric-reasoner"
    )
    assert options.llm_cross_fit_folds == 0  # the whole training split (8.5); cross-fitting is opt-in


@pytest.mark.parametrize(
    "bad",
    [
        {"unknown_key": 1},
        {"streams": []},
        {"streams": ["image", "image"]},
        {"streams": ["audio"]},
        {"dim": 100, "cmaf_heads": 8},
        {"pfa_stages": [(0.0, 1.0)]},
        {"tda_jpeg_quality": (95, 70)},
        {"cmaf": "sum"},
        {"llm_cross_fit_folds": 1},
        {"llm_cross_fit_folds": -2},
    ],
)
def test_invalid_options_are_rejected(bad: dict) -> None:
    with pytest.raises(ValidationError):
        VlmLlmOptions(**bad)


def test_streams_are_put_in_canonical_order_and_alignment_needs_two_modalities() -> None:
    assert VlmLlmOptions(streams=["llm", "image"]).streams == ["image", "llm"]
    assert not VlmLlmOptions(streams=["image"]).uses_alignment
    assert not VlmLlmOptions(pfa=False).uses_alignment
    assert VlmLlmOptions().uses_alignment


# -- PFA ------------------------------------------------------------------------------------


def test_progressive_schedule_grows_in_four_equal_stages() -> None:
    from asebench.methods._vlm_llm.pfa import stage_fraction

    stages = VlmLlmOptions().pfa_stages
    fractions = [stage_fraction(stages, epoch, 100) for epoch in range(100)]
    assert fractions[:25] == [0.10] * 25 and fractions[25:50] == [0.25] * 25
    assert fractions[50:75] == [0.50] * 25 and fractions[75:] == [1.00] * 25
    assert stage_fraction(stages, 0, 3) == 0.10 and stage_fraction(stages, 2, 3) == 1.00


def _reference_supcon(anchors: np.ndarray, texts: np.ndarray, labels: np.ndarray, tau: float) -> float:
    """Supervised InfoNCE over all pairs, written as a plain loop."""
    a = anchors / np.linalg.norm(anchors, axis=1, keepdims=True)
    t = texts / np.linalg.norm(texts, axis=1, keepdims=True)
    losses = []
    for i in range(len(a)):
        s = np.exp(a[i] @ t.T / tau)
        positives = s[labels == labels[i]].sum()
        losses.append(-math.log(positives / s.sum()))
    return float(np.mean(losses))


def test_full_fraction_is_supervised_infonce() -> None:
    from asebench.methods._vlm_llm.pfa import progressive_contrastive_loss

    rng = np.random.default_rng(0)
    anchors, texts = rng.normal(size=(12, 8)), rng.normal(size=(12, 8))
    labels = rng.integers(0, 3, size=12)
    ours = progressive_contrastive_loss(torch.tensor(anchors), torch.tensor(texts), torch.tensor(labels), 1.0, 0.07)
    assert float(ours) == pytest.approx(_reference_supcon(anchors, texts, labels, 0.07), rel=1e-6)


def _most_similar(pool: list[int], similarity: np.ndarray, fraction: float) -> list[int]:
    """The ``fraction`` of ``pool`` (at least one) with the highest similarity."""
    return sorted(pool, key=lambda j: -similarity[j])[: min(len(pool), max(1, math.ceil(fraction * len(pool))))]


def _reference_progressive(
    anchors: np.ndarray, texts: np.ndarray, labels: np.ndarray, fraction: float, tau: float
) -> float:
    """The documented selection, as a loop: own text + easiest positives + hardest negatives."""
    a = anchors / np.linalg.norm(anchors, axis=1, keepdims=True)
    t = texts / np.linalg.norm(texts, axis=1, keepdims=True)
    losses = []
    for i in range(len(a)):
        s = a[i] @ t.T / tau
        others = [j for j in range(len(a)) if j != i and labels[j] == labels[i]]
        negatives = [j for j in range(len(a)) if labels[j] != labels[i]]
        positives = [i, *_most_similar(others, s, fraction)]
        selected = positives + _most_similar(negatives, s, fraction)
        losses.append(-math.log(np.exp(s[positives]).sum() / np.exp(s[selected]).sum()))
    return float(np.mean(losses))


@pytest.mark.parametrize("fraction", [0.1, 0.25, 0.5])
def test_partial_fraction_selects_hardest_negatives_and_easiest_positives(fraction: float) -> None:
    from asebench.methods._vlm_llm.pfa import progressive_contrastive_loss

    rng = np.random.default_rng(1)
    anchors, texts = rng.normal(size=(16, 6)), rng.normal(size=(16, 6))
    labels = rng.integers(0, 3, size=16)
    ours = progressive_contrastive_loss(
        torch.tensor(anchors), torch.tensor(texts), torch.tensor(labels), fraction, 0.07
    )
    assert float(ours) == pytest.approx(_reference_progressive(anchors, texts, labels, fraction, 0.07), rel=1e-6)


def test_hardest_negative_only_at_a_small_fraction() -> None:
    """Anchor 0's negatives have similarities 0.99, 0 and -1: at 1/3 only the 0.99 one counts."""
    from asebench.methods._vlm_llm.pfa import _top_fraction_mask

    scores = torch.tensor([[5.0, 4.9, 0.0, -5.0]])
    negatives = torch.tensor([[False, True, True, True]])
    assert _top_fraction_mask(scores, negatives, 1 / 3).tolist() == [[False, True, False, False]]
    assert _top_fraction_mask(scores, negatives, 1.0).tolist() == [[False, True, True, True]]


def test_pfa_loss_has_gradients_and_falls_when_pairs_align() -> None:
    from asebench.methods._vlm_llm.pfa import progressive_contrastive_loss

    labels = torch.tensor([0, 0, 1, 1])
    aligned = torch.tensor([[1.0, 0.0], [1.0, 0.1], [0.0, 1.0], [0.1, 1.0]])
    shuffled = aligned[[2, 3, 0, 1]]
    anchors = aligned.clone().requires_grad_(True)
    loss = progressive_contrastive_loss(anchors, aligned, labels, 1.0, 0.07)
    loss.backward()
    assert anchors.grad is not None and torch.isfinite(anchors.grad).all()
    assert float(loss.detach()) < float(progressive_contrastive_loss(aligned, shuffled, labels, 1.0, 0.07))


# -- fusion ---------------------------------------------------------------------------------


@pytest.mark.parametrize("fusion", ["attention", "concat"])
def test_fusion_shapes_and_gate(fusion: str) -> None:
    from asebench.methods._vlm_llm.network import MultimodalClassifier

    torch.manual_seed(0)
    model = MultimodalClassifier(
        {"image": 20, "vlm": 12, "llm": 12}, num_classes=5, dim=16, fusion=fusion, heads=4, dropout=0.0
    )
    inputs = {"image": torch.randn(7, 20), "vlm": torch.randn(7, 12), "llm": torch.randn(7, 12)}
    out = model(inputs)
    assert out["logits"].shape == (7, 5) and out["fused"].shape == (7, 16)
    assert out["gate"].shape == (7, 3)
    assert torch.allclose(out["gate"].sum(-1), torch.ones(7))
    assert out["aligned_image"].shape == (7, 16)


def test_cmaf_uses_the_text_tokens() -> None:
    """Changing only a text input changes the attention-fused output (the image token attends to it)."""
    from asebench.methods._vlm_llm.network import MultimodalClassifier

    torch.manual_seed(0)
    model = MultimodalClassifier(
        {"image": 8, "vlm": 8}, num_classes=2, dim=16, fusion="attention", heads=2, dropout=0.0
    ).eval()
    image, text = torch.randn(3, 8), torch.randn(3, 8)
    first = model({"image": image, "vlm": text})["fused"]
    second = model({"image": image, "vlm": text + 1.0})["fused"]
    assert not torch.allclose(first, second)


def test_image_stream_queries_first() -> None:
    from asebench.methods._vlm_llm.network import stream_order

    assert stream_order(["vlm", "llm", "image"]) == ("image", "vlm", "llm")
    assert stream_order(["llm", "vlm"]) == ("llm", "vlm")


# -- TDA ------------------------------------------------------------------------------------


def test_photometric_views_are_deterministic_and_keep_geometry() -> None:
    from PIL import Image

    from asebench.api.data import Sample
    from asebench.methods._vlm_llm.image_stream import PhotometricPolicy

    policy = PhotometricPolicy.from_options(VlmLlmOptions())
    pixels = np.zeros((40, 60, 3), dtype=np.uint8)
    pixels[5:15, 40:55] = (230, 60, 200)  # a pink blob, top right
    image = Image.fromarray(pixels)
    one = np.asarray(policy(Sample(id="a@tda0", label="x", image=pixels), image))
    again = np.asarray(policy(Sample(id="a@tda0", label="x", image=pixels), image))
    other = np.asarray(policy(Sample(id="a@tda1", label="x", image=pixels), image))
    assert one.shape == pixels.shape and np.array_equal(one, again) and not np.array_equal(one, other)
    red = one[..., 0].astype(float)
    rows, cols = np.nonzero(red > 120)
    assert rows.mean() < 20 and cols.mean() > 40  # still top right: no flips, rotations or shifts


def test_patience_follows_the_profile_unless_set() -> None:
    """Quick waits 20 epochs for a better validation score, paper 30; an explicit value wins in both."""
    assert resolved_patience(VlmLlmOptions(), "quick") == 20
    assert resolved_patience(VlmLlmOptions(), "paper") == 30
    assert resolved_patience(VlmLlmOptions(patience=7), "paper") == 7
    with pytest.raises(ValidationError):
        VlmLlmOptions(patience=0)
