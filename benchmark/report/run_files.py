"""The files a run directory gets from its records: summary tables, per-class rows, results.json.

Written after a run (``asebench run``) and again by ``asebench report``; both
read records only, so the files can always be rebuilt.
"""

from __future__ import annotations

from typing import Any

from asebench.api.records import SCHEMA_VERSION, CellRecord, record_order
from asebench.report.anomaly_table import anomaly_csv, anomaly_markdown, anomaly_rows
from asebench.report.reading_table import reading_csv, reading_markdown, reading_rows
from asebench.report.summary import (
    PER_CLASS_COLUMNS,
    SUMMARY_COLUMNS,
    per_class_rows,
    summary_rows,
    summary_table,
    summary_title,
    table_notes,
)
from asebench.report.tables import markdown_table, to_csv
from asebench.run.config import RunConfig
from asebench.store.run_directory import RunDirectory


def write_summaries(
    run_dir: RunDirectory, records: list[CellRecord], environment: dict[str, Any], config: RunConfig | None = None
) -> list[dict[str, Any]]:
    """Write summary.csv/.md, per_class.csv, results.json (and anomaly/OCR tables when any) from ``records``."""
    records = sorted(records, key=record_order)
    rows = summary_rows(records)
    run_dir.write_text("summary.csv", to_csv(rows, SUMMARY_COLUMNS))
    run_dir.write_text(
        "summary.md",
        f"# asebench summary\n\n{summary_title(rows)}; tail-F1 = macro-F1 over tail classes "
        "(by training frequency).\n\n"
        + markdown_table(summary_table(rows))
        + "".join(f"\n- {note}" for note in table_notes(rows))
        + "\n",
    )
    run_dir.write_text("per_class.csv", to_csv(per_class_rows(records), PER_CLASS_COLUMNS))
    anomaly = anomaly_rows(records)
    if anomaly:
        run_dir.write_text("anomaly.csv", anomaly_csv(anomaly))
        run_dir.write_text("anomaly.md", anomaly_markdown(anomaly))
    readings = reading_rows(records)
    if readings:
        run_dir.write_text("ocr.csv", reading_csv(readings))
        run_dir.write_text("ocr.md", reading_markdown(readings))
    run_dir.write_json(
        "results.json",
        {
            "schema_version": SCHEMA_VERSION,
            "config": config.model_dump(mode="json") if config else None,
            "environment": environment,
            "summary": rows,
            "cells": records,
        },
    )
    return rows
