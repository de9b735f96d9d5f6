"""The two offline stand-ins for the paper's VLM and LLM on ASE plots; importing this registers them.

``dot-cloud-describer`` measures the pink dot cloud from the pixels and writes
the measurements as sentences: **not a VLM**. ``numeric-reasoner`` picks the
nearest class mean over the OCR numbers and the measurements: **not an LLM**.
They let the paper's model run end to end on a machine without any model;
their ``kind`` and provenance say what they are, and results that use them
must never be presented as the paper's VLM/LLM method.

Both are registered into the generic registry
(:func:`asebench.annotation.backends.register_backend`) when this package is
imported; ``asebench.domains.ase.annotation`` imports it, so whoever uses the
ASE stage can name them. The dependency points from this domain to the
generic stage, never back.
"""

from __future__ import annotations

from asebench.annotation.backends import register_backend
from asebench.domains.ase.stand_ins.dot_cloud_describer import DotCloudDescriber, describe_features
from asebench.domains.ase.stand_ins.numeric_reasoner import NumericReasoner

register_backend(DotCloudDescriber)
register_backend(NumericReasoner)

DEFAULT_VLM_BACKEND = DotCloudDescriber.name
DEFAULT_LLM_BACKEND = NumericReasoner.name
STAND_IN_BACKENDS: frozenset[str] = frozenset({DotCloudDescriber.name, NumericReasoner.name})
"""Backends whose texts must never be reported as VLM/LLM output."""

__all__ = [
    "DEFAULT_LLM_BACKEND",
    "DEFAULT_VLM_BACKEND",
    "STAND_IN_BACKENDS",
    "DotCloudDescriber",
    "NumericReasoner",
    "describe_features",
]
