"""The report's comparison studies, built from records only: K-shot curves, prompt ablations, transfer matrices.

Each module returns a :class:`~asebench.report.tables.Table` (None when the
records hold nothing for it, with a sentence saying what is missing) and the
K-shot module draws its line plot the way :mod:`asebench.report.figures` does.
"""
