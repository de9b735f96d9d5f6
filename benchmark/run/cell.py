"""Running one cell: split -> fit -> predict (-> episodes), then the record is built and scored.

Everything that can go wrong inside a method (an exception, NaN loss, out of
memory) is caught here and turned into a ``failed`` record with the error, so
the other cells of the run go on. Building the record is
:mod:`asebench.run.records`' job and scoring it :mod:`asebench.scoring.records`'.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from asebench.api.data import LoadedDataset
from asebench.api.errors import MethodUnavailable
from asebench.api.imaging import load_mask
from asebench.api.method import MethodContext, make_views
from asebench.api.records import CellRecord
from asebench.api.reproducibility import seed_everything
from asebench.run.config import RunConfig
from asebench.run.efficiency.passes import measure
from asebench.run.efficiency.resources import memory_start
from asebench.run.environment import collect_environment
from asebench.run.episodes import sample_episodes
from asebench.run.grid import CellPlan
from asebench.run.records import artifact_name, base_record, prediction_fields
from asebench.run.splits import Split
from asebench.scoring.episodic import episode_summary
from asebench.scoring.records import AnomalyInputs, score_record


@dataclass
class CellResult:
    """A finished cell: its JSON record plus arrays stored beside it (learned features)."""

    record: CellRecord
    arrays: dict[str, np.ndarray] = field(default_factory=dict)


def execute_cell(
    plan: CellPlan,
    dataset: LoadedDataset,
    split: Split,
    config: RunConfig,
    context: MethodContext,
    fit_data: LoadedDataset | None = None,
) -> CellResult:
    """Run one cell and return its record (status ``ok``, ``skipped`` or ``failed``) and any array artifacts.

    ``fit_data`` is the dataset the split's train and val parts index when it is not ``dataset`` (a
    transfer's source): the method is fitted on it and never sees an image of ``dataset`` before predict.
    """
    record = base_record(plan, dataset, split, config, {}, fit_data)  # environment filled in once the method ran
    if fit_data is None or fit_data is dataset:
        train, val, test = make_views(dataset, plan.task, (split.train, split.val, split.test))
    else:
        none = split.test[:0]
        train, val, _ = make_views(fit_data, plan.task, (split.train, split.val, none))
        _, _, test = make_views(dataset, plan.task, (none, none, split.test))
    timings: dict[str, float] = {}
    memory = memory_start(context.device)
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
        if plan.method.cls.capabilities.episodic and split.source is None:  # episodes are drawn from one dataset
            tick = time.perf_counter()
            episodic, episode_arrays = run_episodes(method, dataset, plan, split, config, seeding["seeds"]["episodes"])
            timings["episodes_s"] = time.perf_counter() - tick
        record["method"]["provenance"] = method.provenance()
        record["method"]["placeholder_weights"] = method.placeholder_weights()
        if config.efficiency:  # after the provenance: the extra passes must not change what it records
            tick = time.perf_counter()
            record["efficiency"] = measure(method, test, timings, memory)
            timings["efficiency_s"] = time.perf_counter() - tick
    except MethodUnavailable as exc:  # found out only from the data (e.g. no printed numbers to read)
        record["status"] = "skipped"
        record["skip_reason"] = str(exc)
        record["timings"] = {**timings, "total_s": time.perf_counter() - started}
        return CellResult(record)
    except Exception as exc:  # noqa: BLE001 - a method's failure is recorded in its cell, never fatal for the run
        record["status"] = "failed"
        record["error"] = {
            "type": type(exc).__name__,
            "message": str(exc) or type(exc).__name__,
            "traceback": "".join(traceback.format_exception(exc)[-6:]),
        }
        record["timings"] = {**timings, "total_s": time.perf_counter() - started}
        return CellResult(record)
    finally:
        # read after the method ran: by then torch is loaded and its threads and determinism are the ones it used
        record["environment"] = collect_environment(context.device)
    record["predictions"] = prediction_fields(predictions, test, dataset.labels(plan.task)[split.test])
    record["timings"] = {**timings, "total_s": time.perf_counter() - started}
    arrays = dict(episode_arrays)
    if predictions.features is not None:
        arrays["features.npy"] = predictions.features
    if predictions.anomaly_maps is not None:
        arrays["anomaly_maps.npy"] = predictions.anomaly_maps.astype(np.float16)
    if episodic:
        record["episodic"] = episodic
    if arrays:
        record["artifacts"] = {name.removesuffix(".npy"): artifact_name(plan, name) for name in arrays}
    # anomaly metrics are scored from the stored forms (scores as written, maps as float16), so that
    # rescoring a record later from its files gives the same numbers
    stored_maps = arrays.get("anomaly_maps.npy")
    anomaly = anomaly_inputs(
        dataset,
        split,
        record["predictions"].get("anomaly_scores"),
        None if stored_maps is None else stored_maps.astype(np.float32),
    )
    return CellResult(score_record(record, config.tail, config.bootstrap, anomaly), arrays)


def anomaly_inputs(dataset: LoadedDataset, split: Split, scores: Any, maps: np.ndarray | None) -> AnomalyInputs | None:
    """Truth per test image and ground-truth masks (where the adapter has them) for anomaly scoring."""
    if scores is None:
        return None
    samples = [dataset.samples[i] for i in split.test]
    is_anomalous = np.array([s.label != dataset.normal_class for s in samples], dtype=bool)
    masks = [load_mask(s) for s in samples] if any(s.mask is not None for s in samples) else None
    return AnomalyInputs(is_anomalous, np.asarray(scores, dtype=float), maps, masks)


def run_episodes(
    method: Any, dataset: LoadedDataset, plan: CellPlan, split: Split, config: RunConfig, episode_seed: int
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Predict runner-drawn episodes for every configured K and score them.

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
        outcomes = []
        for index, episode in enumerate(episodes):
            support, _, query = make_views(dataset, plan.task, (episode.support, episode.support[:0], episode.query))
            predicted = method.predict_episode(support, query)
            predicted.validate(len(query), num_classes)
            outcomes.append(np.stack([labels[episode.query], predicted.labels]))
            method.context.progress(f"{shots}-shot episodes", index + 1, len(episodes))
        arrays[f"episodes_k{shots}.npy"] = np.stack(outcomes)
        summary[str(shots)] = {
            **episode_summary(arrays[f"episodes_k{shots}.npy"], num_classes),
            "artifact": artifact_name(plan, f"episodes_k{shots}.npy"),
        }
    return summary, arrays
