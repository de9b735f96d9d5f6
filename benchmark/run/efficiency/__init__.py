"""Cost per image, measured by the runner for every method (methods never time themselves).

:mod:`~asebench.run.efficiency.passes` times extra ``predict`` calls on a small
fixed subset of the test split after the cell's real predict;
:mod:`~asebench.run.efficiency.resources` counts parameters, FLOPs and peak
memory. The result is the record's ``efficiency`` block (absent with
``efficiency: false`` / ``--no-efficiency`` and in records written before it).
"""
