"""The prompt-ablation table: each prompt variant of a CLIP method against its default, per dataset.

Built from records only: a variant is read from the method's recorded options
(the options of :class:`asebench.methods._clip.options.ClipPromptOptions`),
never from its name, so custom methods and sweeps of any name are recognised.
Four axes (``configs/prompt_ablation.yaml`` runs one variant per axis for
``winclip`` and ``clip-zeroshot``):

* templates: ``templates`` unset = WinCLIP's 22 (the default); 35 templates
  starting with CLIP's ``"a bad photo of a {}."`` = CLIP's 35; one template;
  else the count;
* states: no ``class_prompts`` = WinCLIP's states (default); a list holding
  ``"broken {}"`` = APRIL-GAN's (WinCLIP's anomalous states plus broken);
  else custom (also ``prompts_file``);
* prototype: ``normalise-mean-normalise`` (default) or ``mean-normalise``;
* object name: ``replace_underscores`` true = cleaned (default), false = verbatim; a fixed ``object_name``.

Methods are compared within one block: same dataset, task, protocol, method
class and every other option equal. Metric as in the K-shot table (image AUROC
for anomaly detectors, macro-F1 otherwise), mean over seeds of the per-seed mean
over cells; Δ = variant minus the block's default variant.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from asebench.api.records import CellRecord
from asebench.report.aggregate import MethodCells, task_rank
from asebench.report.studies.common import METRIC_LABELS, headline, interval_text, per_seed, protocol_of, summarise
from asebench.report.tables import Cell, Column, Table

PROMPT_OPTIONS = ("templates", "class_prompts", "prompts_file", "prototype", "replace_underscores", "object_name")
CLIP_FIRST_TEMPLATE = "a bad photo of a {}."
APRIL_GAN_STATE = "broken {}"
DEFAULT = "default"
ABSENT = (
    "no prompt ablation in the records: no CLIP method (winclip, clip-zeroshot, ...) was run with more than one "
    "prompt variant; run configs/prompt_ablation.yaml"
)
IGNORED = ("batch_size",)  # options that change no score


def prompt_axes(options: dict[str, Any]) -> dict[str, str]:
    """Axis -> the variant's value on it, only where it differs from the default."""
    axes: dict[str, str] = {}
    templates = options.get("templates")
    if templates:
        if len(templates) == 35 and templates[0] == CLIP_FIRST_TEMPLATE:
            axes["templates"] = "CLIP's 35"
        elif len(templates) == 1:
            axes["templates"] = f"one: {templates[0]!r}"
        else:
            axes["templates"] = f"{len(templates)} custom"
    class_prompts = options.get("class_prompts") or {}
    if any(APRIL_GAN_STATE in states for states in class_prompts.values()):
        axes["states"] = "APRIL-GAN's (with broken)"
    elif class_prompts or options.get("prompts_file"):
        axes["states"] = "custom"
    if options.get("prototype", "normalise-mean-normalise") != "normalise-mean-normalise":
        axes["prototype"] = str(options["prototype"])
    if options.get("replace_underscores") is False:
        axes["object name"] = "verbatim"
    if options.get("object_name"):
        axes["object name"] = repr(options["object_name"])
    return axes


def variant_label(options: dict[str, Any]) -> str:
    axes = prompt_axes(options)
    return "; ".join(f"{axis}: {value}" for axis, value in axes.items()) or DEFAULT


def _block_key(group: MethodCells, record: CellRecord) -> tuple[str, ...]:
    rest = {k: v for k, v in group.options.items() if k not in PROMPT_OPTIONS and k not in IGNORED}
    return (
        group.dataset,
        group.task,
        protocol_of(record),
        str(record["method"].get("class")),
        repr(sorted(rest.items())),
    )


def prompt_blocks(groups: Sequence[MethodCells]) -> dict[tuple[str, ...], list[MethodCells]]:
    """Blocks of comparable CLIP methods with at least two prompt variants (block key -> its methods)."""
    blocks: dict[tuple[str, ...], list[MethodCells]] = defaultdict(list)
    for group in groups:
        if group.ok and "prototype" in group.options and "replace_underscores" in group.options:
            blocks[_block_key(group, group.ok[0])].append(group)
    return {
        key: members
        for key, members in sorted(blocks.items(), key=lambda kv: (kv[0][0], task_rank(kv[0][1]), kv[0][2:]))
        if len({variant_label(g.options) for g in members}) > 1
    }


def prompt_table(groups: Sequence[MethodCells]) -> Table | None:
    """Metric per prompt variant with Δ to the default variant; None without an ablation in the records."""
    blocks = prompt_blocks(groups)
    if not blocks:
        return None
    table = Table(
        key="prompts",
        title="Prompt ablation",
        columns=[
            Column("method"),
            Column("variant"),
            Column("metric"),
            Column("seeds", "r"),
            Column("mean", "r", "max"),
            Column("95% CI over seeds", "r"),
            Column("Δ vs default", "r"),
        ],
        caption=(
            "Prompt variants read from the recorded options: templates (WinCLIP's 22 by default, CLIP's 35, one), "
            "states (WinCLIP's by default, APRIL-GAN's with 'broken'), prototype normalisation, object name "
            "(cleaned by default, verbatim). One block per dataset, task, protocol and base method; Δ = variant "
            "minus the default variant. I-AUROC for anomaly detectors, macro-F1 otherwise."
        ),
        data_columns=["dataset", "task", "protocol", "method", "variant", "metric", "seeds", "mean", "std", "delta"],
    )
    for key, members in blocks.items():
        dataset, task, protocol = key[:3]
        rows = []
        for group in sorted(members, key=lambda g: (variant_label(g.options) != DEFAULT, len(g.method), g.method)):
            metric = headline(group.ok[0])[0]
            summary = summarise(per_seed(group.ok, lambda r: headline(r)[1]))
            rows.append((group, variant_label(group.options), metric, summary))
        default = next((s for _, label, _, s in rows if label == DEFAULT and s is not None), None)
        base = rows[0][0].method
        title = f"{base} — {dataset}, {protocol}, {task}"
        table.section(title)
        if default is None:
            table.notes.append(f"{title}: no default-variant record, so no Δ")
        for group, label, metric, summary in rows:
            delta = None if summary is None or default is None else summary.mean - default.mean
            table.add_row(
                [
                    Cell(group.method),
                    Cell(label),
                    Cell(METRIC_LABELS[metric]),
                    Cell(str(summary.seeds if summary else 0)),
                    Cell("–") if summary is None else Cell(f"{summary.mean:.3f}", round(summary.mean, 3)),
                    Cell("–" if summary is None else interval_text(summary)),
                    Cell("–" if delta is None or label == DEFAULT else f"{delta:+.3f}"),
                ],
                group=title,
            )
            table.data_rows.append(
                {
                    "dataset": dataset,
                    "task": task,
                    "protocol": protocol,
                    "method": group.method,
                    "variant": label,
                    "metric": metric,
                    "seeds": summary.seeds if summary else 0,
                    "mean": summary.mean if summary else None,
                    "std": summary.std if summary else None,
                    "delta": delta,
                }
            )
            if summary is None:
                table.notes.append(f"{group.method} on {dataset} {task}: no {METRIC_LABELS[metric]} in its records")
    return table
