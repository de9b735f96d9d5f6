"""Machinery the method plugins share and compose, instead of subclassing one another.

``backbones`` and ``weights``: timm models from local weights (downloaded only when the run allows it);
``loaders``: split views to torch data loaders; ``extraction`` and
``feature_cache``: frozen features computed once per backbone, weights,
preprocessing and dataset; ``training``: the supervised loop; ``logistic_head``:
the linear probes' head. ``backbone_options`` and ``logistic_head`` are
import-light (plugin modules import them at module level, and ``asebench list``
must never import torch); the others import torch and are imported inside a
method's ``fit``/``predict``.
"""
