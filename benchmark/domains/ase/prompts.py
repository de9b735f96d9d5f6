"""The paper's two prompts, verbatim (``ase-paper.md`` §4, evidence [P]).

They are the ASE domain's default prompts for the annotation stage; a run may override them, and
the prompt text is part of every annotation cache key, so changing a prompt
never reuses texts generated for another one.
"""

from __future__ import annotations

VLM_PROMPT = "Please comprehensively describe the distribution and shape of AOI image."
LLM_PROMPT = (
    "Please consider the shape and distribution of AOI image and the numeric or textual information. "
    "Which category does these feature most closely align with?"
)
