"""open_clip helpers shared by the CLIP plugins (clip-zeroshot, clip-probe, winclip).

``options`` and ``prompts`` are import-light (plugin modules import them at
module level); ``model``, ``windows`` and ``winclip_core`` import torch and
open_clip and are only imported inside methods, so ``asebench list`` stays light.
"""
