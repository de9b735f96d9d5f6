"""WinCLIP / WinCLIP+: aggregation maths by hand, threshold rule, a planted anomaly, runs through the runner.

Every model here is a small randomly initialised open_clip ViT (96 px, patch
16: a 6x6 grid) built from a config JSON with ``weights: random``: the numbers
check plumbing and maths only (random text prototypes are noise).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("torch")
pytest.importorskip("open_clip")

import torch

from asebench.api.data import Task
from asebench.api.method import MethodContext, make_views
from asebench.api.registry import METHODS
from asebench.cli.run_command import run_and_summarise
from asebench.components.thresholds import f1_threshold
from asebench.datasets.mvtec import MVTecAD, MVTecOptions
from asebench.methods._clip.model import prototypes_from_embeddings
from asebench.methods._clip.winclip_core import (
    ReferenceMemory,
    ascore,
    few_shot,
    memory_distance,
    zero_shot,
)
from asebench.methods._clip.windows import VisualFeatures, harmonic_map, harmonic_mean, window_indices
from asebench.methods.winclip import WinCLIPFewShot, WinCLIPFewShotOptions
from asebench.run.config import RunConfig
from asebench.run.runner import RunOutcome


def run(config: RunConfig) -> RunOutcome:
    """A run as ``asebench run`` does it: the records, then the summary files built from them."""
    return run_and_summarise(config)[0]


SIZE = 96
TINY = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": SIZE, "layers": 2, "width": 64, "patch_size": 16, "head_width": 32},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("clip") / "tiny-clip-96.json"
    path.write_text(json.dumps(TINY))
    return str(path)


# -- maths on hand-computed examples ---------------------------------------------------------


def test_harmonic_map_averages_the_windows_covering_each_patch() -> None:
    indices = window_indices(2, 3, 2)  # two windows on a 2x3 grid: patches {0,1,3,4} and {1,2,4,5}
    scores = torch.tensor([[0.5, 0.25]])
    expected = torch.tensor([[0.5, 1 / 3, 0.25, 0.5, 1 / 3, 0.25]])  # shared patches: 2 / (1/.5 + 1/.25)
    torch.testing.assert_close(harmonic_map(scores, indices, 6), expected)
    torch.testing.assert_close(harmonic_mean([torch.tensor([0.5]), torch.tensor([0.25])]), torch.tensor([1 / 3]))


def test_ascore_is_the_two_class_softmax_of_cosines_over_tau() -> None:
    prototypes = torch.tensor([[1.0, 0.0], [0.0, 1.0]])  # normal, anomalous
    feature = torch.tensor([[0.6, 0.8]])
    expected = torch.softmax(torch.tensor([0.6, 0.8]) / 0.1, dim=0)[1]  # = sigmoid(2)
    torch.testing.assert_close(ascore(feature, prototypes, 0.1), expected.view(1))
    assert float(ascore(feature, prototypes, 0.1)) == pytest.approx(1 / (1 + np.exp(-2)))


def test_prototype_variants_normalise_before_or_after_averaging() -> None:
    embeddings = torch.tensor([[3.0, 4.0], [1.0, 0.0], [0.0, 2.0]])
    per_prompt = prototypes_from_embeddings(embeddings, [2, 1], "normalise-mean-normalise")
    raw_mean = prototypes_from_embeddings(embeddings, [2, 1], "mean-normalise")
    # (.6, .8) and (1, 0) average to (.8, .4); raw (3, 4) and (1, 0) average to (2, 2)
    torch.testing.assert_close(per_prompt[0], torch.tensor([0.8, 0.4]) / np.sqrt(0.8))
    torch.testing.assert_close(raw_mean[0], torch.tensor([1.0, 1.0]) / np.sqrt(2))
    torch.testing.assert_close(per_prompt[1], torch.tensor([0.0, 1.0]))


def test_few_shot_distance_is_half_one_minus_the_best_cosine() -> None:
    memory = torch.tensor([[0.0, 1.0], [0.6, 0.8]])
    queries = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
    torch.testing.assert_close(memory_distance(queries, memory), torch.tensor([[0.2, 0.0]]))


def test_zero_and_few_shot_maps_compose_as_in_the_paper() -> None:
    """2x3 grid, one 2x2 window size: zero-shot map = HM(image score, window map); M_few = mean(patch, window)."""
    indices = {2: window_indices(2, 3, 2)}
    prototypes = torch.tensor([[1.0, 0.0], [0.0, 1.0]])

    def unit(v: Any) -> torch.Tensor:
        return torch.nn.functional.normalize(torch.tensor(v), dim=-1)

    features = VisualFeatures(
        image=unit([[1.0, 1.0]]),
        patches=unit([[[1.0, 0.0]] * 3 + [[0.0, 1.0]] * 3]),
        windows={2: unit([[[1.0, 0.0], [0.0, 1.0]]])},
    )
    image, zero_map = zero_shot(features, prototypes, 1.0, indices)
    s_img, s0, s1 = 0.5, 1 / (1 + np.e), 1 / (1 + np.exp(-1))  # sigmoid(0), sigmoid(-1), sigmoid(1)
    window_map = [s0, 2 / (1 / s0 + 1 / s1), s1, s0, 2 / (1 / s0 + 1 / s1), s1]
    expected = [2 / (1 / s_img + 1 / w) for w in window_map]
    assert float(image[0]) == pytest.approx(s_img)
    np.testing.assert_allclose(zero_map[0].numpy(), expected, rtol=1e-5)
    memory = ReferenceMemory(patches=unit([[1.0, 0.0]]), windows={2: unit([[1.0, 0.0]])})
    few = few_shot(features, memory, indices)
    patch_d = [0, 0, 0, 0.5, 0.5, 0.5]
    window_d = [0.0, 0.0, 0.5, 0.0, 0.0, 0.5]  # harmonic mean with a zero-distance window is 0
    np.testing.assert_allclose(few[0].numpy(), (np.array(patch_d) + window_d) / 2, atol=1e-6)


def test_threshold_maximises_validation_f1_and_ties_go_to_the_highest() -> None:
    # defect if score >= t, 2 defects: t = .6 -> TP 1, 1 called (F1 2/3); t = .3 -> TP 2, 3 called (F1 .8)
    chosen = f1_threshold(np.array([1, 0, 1, 0]), np.array([0.6, 0.4, 0.3, 0.1]))
    assert chosen["threshold"] == pytest.approx(0.3) and chosen["val_f1"] == pytest.approx(0.8)
    # t = .9 -> 2 / (1 + 2); t = .6 -> 2 * 2 / (4 + 2): both 2/3, the tie keeps the higher threshold
    tied = f1_threshold(np.array([1, 0, 0, 1]), np.array([0.9, 0.8, 0.7, 0.6]))
    assert tied["threshold"] == pytest.approx(0.9) and tied["val_f1"] == pytest.approx(2 / 3)
    fallback = f1_threshold(np.array([0, 0]), np.array([0.2, 0.7]))
    assert fallback["threshold"] == 0.5 and "fallback" in fallback["rule"]


# -- fixtures in the MVTec layout -------------------------------------------------------------

YY, XX = np.mgrid[0:SIZE, 0:SIZE]
TEXTURE = np.stack([128 + 60 * np.sin(XX / 3.0), 128 + 60 * np.cos(YY / 4.0), 128 + 40 * np.sin((XX + YY) / 5.0)], -1)
CHECKER = (((YY[:16, :16] // 4) + (XX[:16, :16] // 4)) % 2 * 255)[..., None]
PLANTED = [(1, 1), (2, 3), (4, 2), (3, 4), (0, 5), (5, 0)]  # patch cells of the planted 16x16 squares


def write_planted_mvtec(
    root: Path, normals: int = 4, test_normals: int = 3, cells: list[tuple[int, int]] = PLANTED
) -> Path:
    """A texture with noise; each defect image has a checkerboard pasted on one patch-aligned cell."""
    rng = np.random.default_rng(0)

    def save(path: Path, array: np.ndarray) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(array).save(path)

    def texture() -> np.ndarray:
        return TEXTURE + rng.normal(0, 4, TEXTURE.shape)

    for split, count in (("train/good", normals), ("test/good", test_normals)):
        for i in range(count):
            save(root / "tile" / split / f"{i:03d}.png", np.clip(texture(), 0, 255).astype(np.uint8))
    for i, (r, c) in enumerate(cells):
        image, mask = texture(), np.zeros((SIZE, SIZE), dtype=np.uint8)
        image[r * 16 : (r + 1) * 16, c * 16 : (c + 1) * 16] = CHECKER
        mask[r * 16 : (r + 1) * 16, c * 16 : (c + 1) * 16] = 255
        save(root / "tile" / "test" / "spot" / f"{i:03d}.png", np.clip(image, 0, 255).astype(np.uint8))
        save(root / "tile" / "ground_truth" / "spot" / f"{i:03d}_mask.png", mask)
    return root


def test_planted_anomalies_peak_on_their_cell_in_few_shot_mode(tmp_path: Path, tiny_model: str) -> None:
    """WinCLIP+ with one normal reference: the map's maximum falls inside each planted square.

    With random weights the zero-shot half of the map (random text prototypes)
    is noise; temperature 1 flattens it so the visual few-shot half decides.
    """
    dataset = MVTecAD(MVTecOptions(root=write_planted_mvtec(tmp_path / "mvtec"))).load()
    official = np.array([s.metadata["official_split"] for s in dataset.samples])
    train, test = np.flatnonzero(official == "train"), np.flatnonzero(official == "test")
    train_view, val_view, test_view = make_views(dataset, Task.BINARY, (train, test, test))
    method = WinCLIPFewShot(
        WinCLIPFewShotOptions(model=tiny_model, weights="random", k=1, temperature=1.0), MethodContext(seed=0)
    )
    method.fit(train_view, val_view)
    predictions = method.predict(test_view)
    assert predictions.anomaly_maps.shape == (len(test), SIZE, SIZE)
    defects = [(i, s) for i, s in enumerate(test_view.samples) if s.metadata["defect_type"] == "spot"]
    for i, sample in defects:
        r, c = np.unravel_index(predictions.anomaly_maps[i].argmax(), (SIZE, SIZE))
        assert (r // 16, c // 16) == PLANTED[int(sample.id[-3:])], sample.id
    normal_scores = [
        predictions.anomaly_scores[i] for i, s in enumerate(test_view.samples) if s.metadata["defect_type"] == "good"
    ]
    assert min(predictions.anomaly_scores[i] for i, _ in defects) > max(normal_scores)
    assert list(method.references) == ["tile"] and len(method.references["tile"]) == 1
    assert method.references["tile"][0] in {s.id for s in train_view.samples}


def test_a_second_winclip_reuses_the_test_features_and_scores_them_the_same(tmp_path: Path, tiny_model: str) -> None:
    """The bundle's feature memo: WinCLIP+ after WinCLIP embeds no test image again; the numbers do not move."""
    from asebench.methods._clip.feature_memo import FeatureMemo
    from asebench.methods.winclip import WinCLIP, WinCLIPOptions

    dataset = MVTecAD(MVTecOptions(root=write_planted_mvtec(tmp_path / "mvtec"))).load()
    official = np.array([s.metadata["official_split"] for s in dataset.samples])
    train, test = np.flatnonzero(official == "train"), np.flatnonzero(official == "test")
    train_view, val_view, test_view = make_views(dataset, Task.BINARY, (train, test, test))
    zero = WinCLIP(WinCLIPOptions(model=tiny_model, weights="random"), MethodContext(seed=0))
    zero.fit(train_view, val_view)
    zero.bundle.feature_memo = FeatureMemo()
    zero.predict(test_view)
    memo = zero.bundle.feature_memo
    assert len(memo) == len(test) and memo.hits == 0

    few = WinCLIPFewShot(WinCLIPFewShotOptions(model=tiny_model, weights="random", k=1), MethodContext(seed=0))
    few.fit(train_view, val_view)
    assert few.bundle is zero.bundle  # one model per run: the memo is shared
    hits = memo.hits
    memoised = few.predict(test_view)
    assert memo.hits - hits == len(test)  # every test image came from the memo
    few.bundle.feature_memo = FeatureMemo(budget_bytes=0)  # nothing fits: every image is embedded again
    fresh = few.predict(test_view)
    np.testing.assert_allclose(memoised.anomaly_scores, fresh.anomaly_scores, atol=1e-6)
    np.testing.assert_allclose(memoised.anomaly_maps, fresh.anomaly_maps, atol=1e-6)


def test_the_feature_memo_drops_the_least_recently_used_images_beyond_its_budget() -> None:
    from asebench.methods._clip.feature_memo import FeatureMemo, feature_bytes

    def features(value: float) -> VisualFeatures:
        return VisualFeatures(
            torch.full((1, 4), value), torch.full((1, 2, 4), value), {2: torch.full((1, 1, 4), value)}
        )

    size = feature_bytes(features(0.0))
    memo = FeatureMemo(budget_bytes=2 * size)
    memo.put("a", features(1.0))
    memo.put("b", features(2.0))
    assert memo.get("a") is not None  # "a" is now the most recently used
    memo.put("c", features(3.0))
    assert memo.get("b") is None and memo.get("a") is not None and memo.get("c") is not None
    assert memo.used_bytes == 2 * size and len(memo) == 2


# -- availability and the runner ---------------------------------------------------------------


def options_of(name: str, **overrides: Any) -> Any:
    return METHODS.get(name).Options.model_validate({**METHODS.entry(name).defaults, **overrides})


def test_without_weights_the_methods_are_unavailable_with_the_fix() -> None:
    for name in ("winclip", "winclip-fewshot", "clip-zeroshot", "clip-probe"):
        reason = METHODS.get(name).availability(options_of(name))
        assert reason is not None and reason.startswith(
            "no local pretrained weights for ViT-B-16-plus-240 laion400m_e31 (weights: auto; "
        )
        assert "--allow-download" in reason and f"set method_options.{name}.weights to a local open_clip" in reason
    assert options_of("winclip").k == 0 and options_of("winclip-fewshot").k == 1
    assert options_of("winclip").model == "ViT-B-16-plus-240" and options_of("winclip").weights == "auto"
    assert METHODS.get("winclip").availability(options_of("winclip", weights="random")) is None
    with pytest.raises(ValueError, match="local checkpoint path"):
        options_of("winclip", weights="scratch")


def write_fixture(root: Path) -> Path:
    """MVTec layout with two named defect types, enough images per class for the holdout split."""
    write_planted_mvtec(root, normals=6, test_normals=3, cells=PLANTED[:3])
    for i, (r, c) in enumerate(PLANTED[3:]):
        src = root / "tile" / "test" / "spot" / f"{i:03d}.png"
        image = np.asarray(Image.open(src)).copy()
        image[r * 16 : (r + 1) * 16, c * 16 : (c + 1) * 16] = 255 - image[r * 16 : (r + 1) * 16, c * 16 : (c + 1) * 16]
        (root / "tile" / "test" / "dent").mkdir(exist_ok=True)
        (root / "tile" / "ground_truth" / "dent").mkdir(exist_ok=True)
        Image.fromarray(image).resize((120, 120)).save(root / "tile" / "test" / "dent" / f"{i:03d}.png")
        mask = np.zeros((120, 120), dtype=np.uint8)
        mask[int(r * 20) : int((r + 1) * 20), int(c * 20) : int((c + 1) * 20)] = 255  # masks at the image's own size
        Image.fromarray(mask).save(root / "tile" / "ground_truth" / "dent" / f"{i:03d}_mask.png")
    return root


def test_winclip_and_fewshot_run_through_the_runner_and_record_anomaly_metrics(tmp_path: Path, tiny_model: str) -> None:
    root = write_fixture(tmp_path / "mvtec")
    clip = {"model": tiny_model, "weights": "random"}
    outcome = run(
        RunConfig(
            methods=["winclip*"],
            datasets=[f"mvtec:{root}"],
            seeds=[0],
            device="cpu",
            run_dir=tmp_path / "run",
            bootstrap={"samples": 10},
            method_options={"winclip": clip, "winclip-fewshot": {**clip, "k": 2}},
        )
    )
    assert not outcome.failed, [r.get("error") for r in outcome.failed]
    assert len(outcome.records) == 4  # 2 methods x 2 tasks
    for record in outcome.records:
        metrics = record["anomaly_metrics"]
        assert (
            metrics["image_auroc"] is not None
            and metrics["pixel_auroc"] is not None
            and metrics["pixel_pro"] is not None
        )
        assert metrics["num_pixel_images"] == metrics["num_images"]
        prov = record["method"]["provenance"]
        assert prov["weights"] == "random" and "meaningless" in prov["weights_note"]
        assert prov["preprocessing"]["interpolation"] == "bicubic" and prov["preprocessing"]["size"] == SIZE
        assert prov["windows_per_image"] == {"2": 25, "3": 16}
        assert prov["threshold"]["rule"].startswith(("max validation F1", "fallback"))
        assert record["artifacts"]["anomaly_maps"].endswith("anomaly_maps.npy")
        maps = np.load(tmp_path / "run" / "cells" / record["artifacts"]["anomaly_maps"])
        assert maps.shape == (len(record["predictions"]["ids"]), SIZE, SIZE)
    few = [r for r in outcome.records if r["cell"]["method"] == "winclip-fewshot"]
    for record in few:
        refs = record["method"]["provenance"]["reference_ids"]["tile"]
        assert len(refs) == 2 and all("/good/" in ref for ref in refs)
        assert not set(refs) & set(record["predictions"]["ids"])  # references come from training, never test
    multi = next(r for r in outcome.records if r["cell"]["method"] == "winclip" and r["cell"]["task"] == "multiclass")
    assert multi["method"]["provenance"]["multiclass_rule"].startswith("two-stage")
    assert (
        multi["method"]["provenance"]["prompts"]["defect_types"]["example_prompt"]["dent"]
        == "a cropped photo of the tile with dent."
    )


def test_anonymous_defect_types_make_the_multiclass_cell_fail_as_not_applicable(
    tmp_path: Path, tiny_model: str, tiny_folder_dataset: Any
) -> None:
    root = tiny_folder_dataset(size=32)  # normal / type1 / type2
    outcome = run(
        RunConfig(
            methods=["winclip"],
            datasets=["folder"],
            dataset_options={"folder": {"root": str(root)}},
            device="cpu",
            run_dir=tmp_path / "run",
            bootstrap={"samples": 10},
            method_options={"winclip": {"model": tiny_model, "weights": "random"}},
        )
    )
    by_task = {r["cell"]["task"]: r for r in outcome.records}
    assert by_task["binary"]["status"] == "ok" and by_task["binary"]["anomaly_metrics"]["pixel_auroc"] is None
    assert by_task["multiclass"]["status"] == "failed"
    assert "not applicable" in by_task["multiclass"]["error"]["message"]


def test_without_weights_a_run_records_skips_with_the_reason(tmp_path: Path, tiny_folder_dataset: Any) -> None:
    outcome = run(
        RunConfig(
            methods=["clip*", "winclip*"],
            datasets=["folder"],
            dataset_options={"folder": {"root": str(tiny_folder_dataset())}},
            device="cpu",
            run_dir=tmp_path / "run",
            bootstrap={"samples": 10},
        )
    )
    assert {r["cell"]["method"] for r in outcome.records} == {
        "clip-zeroshot",
        "clip-probe",
        "winclip",
        "winclip-fewshot",
    }
    assert all(r["status"] == "skipped" for r in outcome.records)
    assert all(
        r["skip_reason"].startswith("no local pretrained weights for ViT-B-16-plus-240 laion400m_e31")
        and f"set method_options.{r['cell']['method']}.weights" in r["skip_reason"]
        for r in outcome.records
    )
    assert "--allow-download" in (tmp_path / "run" / "summary.md").read_text()


@pytest.mark.slow
def test_cli_runs_clip_and_winclip_globs_on_an_mvtec_folder(tmp_path: Path, tiny_model: str, run_cli: Any) -> None:
    """`asebench run --methods 'clip*,winclip*' -c cfg.yaml` with local (here: random) weights."""
    import yaml

    root = write_fixture(tmp_path / "mvtec")
    clip = {"model": tiny_model, "weights": "random"}
    prompts = {**clip, "class_prompts": {"spot": ["{} with a checkerboard square"]}}
    config = tmp_path / "cfg.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "datasets": [f"mvtec:{root}"],
                "device": "cpu",
                "run_dir": str(tmp_path / "run"),
                "bootstrap": {"samples": 10},
                "method_options": {
                    "clip-zeroshot": prompts,
                    "clip-probe": clip,
                    "winclip": clip,
                    "winclip-fewshot": clip,
                },
            }
        )
    )
    result = run_cli("run", "--methods", "clip*,winclip*", "-c", str(config))
    assert result.returncode == 0, result.stdout + result.stderr
    records = [json.loads(p.read_text()) for p in sorted((tmp_path / "run" / "cells").glob("*.json"))]
    assert {r["cell"]["method"] for r in records} == {"clip-zeroshot", "clip-probe", "winclip", "winclip-fewshot"}
    assert all(r["status"] == "ok" for r in records)
    pixel = [r for r in records if r["cell"]["method"].startswith("winclip")]
    assert all(r["anomaly_metrics"]["pixel_pro"] is not None for r in pixel)


# -- the per-category anomaly protocols -------------------------------------------------------


def test_official_protocol_runs_per_category_and_draws_shots_from_official_train_with_the_cell_seed(
    tmp_path: Path, tiny_model: str
) -> None:
    from asebench.datasets.anomaly_synth import AnomalySynth, AnomalySynthOptions

    synth = {"image_size": 48, "train_per_category": 6, "test_good_per_category": 2, "test_defect_per_kind": 1}
    synth["categories"] = ["grain", "pill"]
    clip = {"model": tiny_model, "weights": "random"}
    outcome = run(
        RunConfig(
            methods=["winclip*", "majority"],
            datasets=["anomaly-synth"],
            dataset_options={"anomaly-synth": synth},
            split={"protocol": "official"},
            seeds=[0, 1],
            device="cpu",
            run_dir=tmp_path / "run",
            bootstrap={"samples": 0},
            method_options={"winclip": clip, "winclip-fewshot": {**clip, "k": 2}},
        )
    )
    assert not outcome.failed, [r.get("error") for r in outcome.failed]
    data = AnomalySynth(AnomalySynthOptions(**synth)).load()  # type: ignore[arg-type]
    ok = [r for r in outcome.records if r["status"] == "ok"]
    assert len(ok) == 8 and {r["cell"]["task"] for r in outcome.records} == {"binary"}  # 2 methods x 2 cats x 2 seeds
    assert {r["cell"]["method"] for r in outcome.records if r["status"] == "skipped"} == {"majority"}
    for record in ok:
        category = record["split"]["category"]
        assert ["grain", "pill"][record["cell"]["fold"]] == category
        assert record["method"]["provenance"]["threshold"]["rule"].startswith("fallback")  # no validation split
        assert record["anomaly_metrics"]["pixel_pro"] is not None
        if record["cell"]["method"] != "winclip-fewshot":
            continue
        pool = sorted(
            s.id for s in data.samples if s.metadata["category"] == category and s.metadata["official_split"] == "train"
        )
        drawn = np.random.default_rng(record["cell"]["seed"]).choice(len(pool), size=2, replace=False)
        assert record["method"]["provenance"]["reference_ids"] == {category: [pool[i] for i in sorted(drawn)]}
    text = (tmp_path / "run" / "anomaly.md").read_text(encoding="utf-8")
    for method in ("winclip", "winclip-fewshot"):
        assert f"### {method} ⚠ — anomaly-synth, official, binary" in text
    assert text.count("| mean | 4 |") == 2 and "| grain | 2 |" in text
