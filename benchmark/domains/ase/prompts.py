"""The ASE paper's two prompts (arXiv 2404.05183), verbatim.

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
