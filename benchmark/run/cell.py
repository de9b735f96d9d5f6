"""Running one cell: split -> fit -> predict -> score -> record.

Everything that can go wrong inside a method (an exception, NaN loss, out of
memory) is caught here and turned into a ``failed`` record with the error, so
the other cells of the run go on.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np

from asebench.run.config import RunConfig
from asebench.api.data import LoadedDataset, Task
from asebench.run.episodes import mean_with_ci, sample_episodes
from asebench.api.errors import MethodUnavailable
from asebench.run.grid import CellPlan
from asebench.api.method import MethodContext, Predictions, make_views
from asebench.scoring.classification import fast_macro_f1
from asebench.scoring.readings import score_readings
from asebench.run.reproducibility import seed_everything
from asebench.api.records import SCHEMA_VERSION, CellRecord
from asebench.scoring.cell import score_cell
from asebench.run.splits import Split


@dataclass
class CellResult:
    """A finished cell: its JSON record plus arrays stored beside it (learned features)."""

    record: CellRecord
    arrays: dict[str, np.ndarray] = field(default_factory=dict)


def _base_record(plan: CellPlan, dataset: LoadedDataset, split: Split, config: RunConfig, environment: dict[str, Any]) -> CellRecord:
    ids = [sample.id for sample in dataset.samples]
    labels = dataset.labels(plan.task)
    class_names = dataset.task_class_names(plan.task)
    count = lambda index: [int((labels[index] == k).sum()) for k in range(len(class_names))]  # noqa: E731
    return CellRecord(
        schema_version=SCHEMA_VERSION,
        cell=plan.key.as_dict(),
        status="ok",
        error=None,
        skip_reason=None,
        method=plan.method.describe(),
        dataset={
            "name": dataset.name,
            "version": dataset.version,
            "fingerprint": dataset.fingerprint,
            "options": dict(dataset.options),
            "class_names": list(class_names),
            "normal_class": dataset.normal_class,
            "num_samples": len(dataset.samples),
        },
        split={
            **config.split.model_dump(mode="json"),
            "seed": plan.seed,
            "fold": plan.fold,
            "digest": split.digest(ids),
            "train_counts": count(split.train),
            "val_counts": count(split.val),
            "test_counts": count(split.test),
        },
        config=config.model_dump(mode="json"),
        environment=environment,
        created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )


def skipped_record(plan: CellPlan, dataset: LoadedDataset, split: Split, config: RunConfig, environment: dict[str, Any], reason: str) -> CellRecord:
    record = _base_record(plan, dataset, split, config, environment)
    record["status"] = "skipped"
    record["skip_reason"] = reason
    return record


def failed_record(
    plan: CellPlan, dataset: LoadedDataset, split: Split, config: RunConfig, environment: dict[str, Any], error: dict[str, str]
) -> CellRecord:
    """A cell that returned no result at all: its worker died on every attempt, or could not set the cell up."""
    record = _base_record(plan, dataset, split, config, environment)
    record["status"] = "failed"
    record["error"] = error
    record["timings"] = {}
    return record


def execute_cell(
    plan: CellPlan,
    dataset: LoadedDataset,
    split: Split,
    config: RunConfig,
    context: MethodContext,
    environment: dict[str, Any],
) -> CellResult:
    """Run one cell and return its record (status ``ok`` or ``failed``) and any array artifacts."""
    record = _base_record(plan, dataset, split, config, environment)
    train, val, test = make_views(dataset, plan.task, (split.train, split.val, split.test))
    timings: dict[str, float] = {}
    started = time.perf_counter()
    try:
        seeding = seed_everything(plan.seed, config.deterministic)
        record["run"] = {
            "device": context.device,
            "profile": context.profile,
            "amp": context.amp,
            "num_workers": context.num_workers,
            **seeding,
        }
        method = plan.method.cls(plan.method.options, context)
        tick = time.perf_counter()
        method.fit(train, val)
        timings["fit_s"] = time.perf_counter() - tick
        tick = time.perf_counter()
        predictions = method.predict(test)
        timings["predict_s"] = time.perf_counter() - tick
        predictions.validate(len(test), test.num_classes)
        episodic: dict[str, Any] = {}
        episode_arrays: dict[str, np.ndarray] = {}
        if plan.method.cls.capabilities.episodic:
            tick = time.perf_counter()
            episodic, episode_arrays = run_episodes(method, dataset, plan, split, config, seeding["seeds"]["episodes"])
            timings["episodes_s"] = time.perf_counter() - tick
        record["method"]["provenance"] = method.provenance()
    except MethodUnavailable as exc:  # found out only from the data (e.g. no printed numbers to read)
        record["status"] = "skipped"
        record["skip_reason"] = str(exc)
        record["timings"] = {**timings, "total_s": time.perf_counter() - started}
        return CellResult(record)
    except Exception as exc:  # recorded, never fatal for the run
        record["status"] = "failed"
        record["error"] = {
            "type": type(exc).__name__,
            "message": str(exc) or type(exc).__name__,
            "traceback": "".join(traceback.format_exception(exc)[-6:]),
        }
        record["timings"] = {**timings, "total_s": time.perf_counter() - started}
        return CellResult(record)
    record["predictions"] = {
        "ids": test.ids,
        "y_true": dataset.labels(plan.task)[split.test].tolist(),
        "y_pred": predictions.labels.tolist(),
        "probabilities": None if predictions.probabilities is None else predictions.probabilities.round(6).tolist(),
    }
    record["timings"] = {**timings, "total_s": time.perf_counter() - started}
    arrays = dict(episode_arrays)
    if predictions.features is not None:
        arrays["features.npy"] = predictions.features
    if predictions.anomaly_scores is not None:
        record["predictions"]["anomaly_scores"] = predictions.anomaly_scores.astype(float).round(6).tolist()
        try:
            record["anomaly_metrics"] = score_anomalies(dataset, split, predictions)
        except Exception as exc:  # a metric problem must not lose the finished predictions
            record["anomaly_metrics"] = {"notes": [f"anomaly scoring failed: {type(exc).__name__}: {exc}"]}
    if predictions.readings:
        record["predictions"]["readings"] = {
            key: [None if np.isnan(v) else float(v) for v in np.asarray(values, dtype=float)]
            for key, values in predictions.readings.items()
        }
        # the printed values the dataset knows, kept beside the readings so the score can be recomputed
        record["predictions"]["reading_truth"] = [
            {key: sample.metadata[key] for key in predictions.readings if key in sample.metadata} for sample in test.samples
        ]
    if predictions.anomaly_maps is not None:
        arrays["anomaly_maps.npy"] = predictions.anomaly_maps.astype(np.float16)
    if episodic:
        record["episodic"] = episodic
    if arrays:
        record["artifacts"] = {name.removesuffix(".npy"): artifact_name(plan, name) for name in arrays}
    return CellResult(rescore(record, config), arrays)


def run_episodes(
    method: Any, dataset: LoadedDataset, plan: CellPlan, split: Split, config: RunConfig, episode_seed: int
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Score an episodic method on runner-drawn episodes, for every configured K.

    Returns the summary per K (mean accuracy and macro-F1 with 95% CIs over
    episodes) and, per K, an ``(episodes, 2, queries)`` array of
    (y_true, y_pred) so every episode score can be recomputed.
    """
    labels = dataset.labels(plan.task)
    num_classes = len(dataset.task_class_names(plan.task))
    summary: dict[str, Any] = {}
    arrays: dict[str, np.ndarray] = {}
    for shots in config.episodes.shots:
        episodes, reason = sample_episodes(
            labels, split.train, split.test, shots, config.episodes.queries, config.episodes.count, episode_seed
        )
        if reason:
            summary[str(shots)] = {"unavailable": reason}
            continue
        accuracy, f1, outcomes = [], [], []
        for index, episode in enumerate(episodes):
            support, _, query = make_views(dataset, plan.task, (episode.support, episode.support[:0], episode.query))
            predicted = method.predict_episode(support, query)
            predicted.validate(len(query), num_classes)
            y_true = labels[episode.query]
            accuracy.append(float(np.mean(predicted.labels == y_true)))
            f1.append(fast_macro_f1(y_true, predicted.labels, num_classes))
            outcomes.append(np.stack([y_true, predicted.labels]))
            method.context.progress(f"{shots}-shot episodes", index + 1, len(episodes))
        summary[str(shots)] = {
            "episodes": len(episodes),
            "queries_per_class": len(episodes[0].query) // num_classes,
            "accuracy": mean_with_ci(accuracy),
            "macro_f1": mean_with_ci(f1),
            "artifact": artifact_name(plan, f"episodes_k{shots}.npy"),
        }
        arrays[f"episodes_k{shots}.npy"] = np.stack(outcomes)
    return summary, arrays


def score_anomalies(dataset: LoadedDataset, split: Split, predictions: Predictions) -> dict[str, Any]:
    """Image- and pixel-level anomaly metrics of a cell (masks where the adapter has them)."""
    from asebench.scoring.anomaly import anomaly_report
    from asebench.api.imaging import load_mask

    samples = [dataset.samples[i] for i in split.test]
    is_anomalous = np.array([s.label != dataset.normal_class for s in samples], dtype=bool)
    masks = [load_mask(s) for s in samples] if any(s.mask is not None for s in samples) else None
    return anomaly_report(is_anomalous, predictions.anomaly_scores, predictions.anomaly_maps, masks)


def artifact_name(plan: CellPlan, suffix: str) -> str:
    """File name of a cell's sidecar artifact in ``cells/``."""
    return plan.key.filename.removesuffix(".json") + "." + suffix


def rescore(record: CellRecord, config: RunConfig) -> CellRecord:
    """(Re)compute metrics and tail analysis from the record's stored predictions."""
    cell = record["cell"]
    metrics, tail = score_cell(
        record["predictions"]["y_true"],
        record["predictions"]["y_pred"],
        record["dataset"]["class_names"],
        Task(cell["task"]),
        record["split"]["train_counts"],
        config.tail,
        config.bootstrap.samples,
        bootstrap_seed=cell["seed"],
        bootstrap_confidence=config.bootstrap.confidence,
    )
    record["metrics"] = metrics
    record["tail"] = tail
    readings = record["predictions"].get("readings")
    if readings:
        record["reading_metrics"] = score_readings(readings, record["predictions"]["reading_truth"])
    record.setdefault("config", {}).update(
        tail=config.tail.model_dump(mode="json"), bootstrap=config.bootstrap.model_dump(mode="json")
    )
    return record


def needs_rescoring(record: CellRecord, config: RunConfig) -> bool:
    """True when a finished record was scored with other tail or bootstrap settings."""
    bootstrap = record["metrics"]["bootstrap"]
    return (
        record["tail"]["thresholds"] != config.tail.model_dump(mode="json")
        or bootstrap["samples"] != config.bootstrap.samples
        or bootstrap["confidence"] != config.bootstrap.confidence
    )
