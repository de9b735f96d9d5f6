"""The report's tables, one module per kind of section, built from grouped records.

Each builder returns a :class:`~asebench.report.tables.Table` (or None when
there is nothing to show, e.g. no anomaly metrics) with display cells and the
raw numbers for CSV. Row order is canonical: dataset, task (in the task order
of :mod:`asebench.report.aggregate`), then method name; classes go by training
frequency, most frequent first. :mod:`~asebench.report.sections.readme` builds
the README's generated sections (the quick-start table's frame and how it was
measured) the same way, from one run directory.
"""
