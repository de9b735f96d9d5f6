"""APRIL-GAN helpers (``april-gan``, ``april-gan-fewshot``): stage features, losses, maps, the adapter artifact.

``core`` holds the maths (stage tokens of an open_clip ViT, the per-stage linear
maps, focal + Dice loss, zero- and few-shot maps, the few-shot image-score
normalisation); ``artifact`` trains, stores (content-addressed, safetensors)
and reloads the linear maps. Both import torch, so the plugin imports them
inside its methods only and ``asebench list`` stays light.
"""
