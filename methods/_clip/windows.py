"""WinCLIP window embeddings on open_clip 3.x ViTs, computed in batches, and harmonic aggregation.

A window embedding (WinCLIP's) is the class-token output of the
vision transformer run on a *short* sequence: the class token plus the k x k
patch tokens of one window, taken **after** the class and positional
embeddings are added (so every patch keeps the position it has in the full
image) and after ``ln_pre`` (a per-token LayerNorm, so applying it before or
after selecting tokens is the same); then the full transformer, ``ln_post`` and
the projection.

The pitfall this module avoids: anomalib's implementation reorders tokens to
(tokens, windows, width) before the transformer, which was right while
open_clip's transformer was sequence-first (<= 2.24). From open_clip 2.26.1 on
(3.3.0 here) ``Transformer.batch_first`` is True and ``forward`` takes
(batch, tokens, width) as-is, so the reordered input makes attention run
*across windows* instead of within each window, with no shape error. Here the
sequences are always built batch-first, (batch x windows, 1 + k^2, width), and
:func:`check_vision_tower` refuses a transformer whose ``batch_first`` is not
True, and any pooling other than class-token pooling, instead of silently
computing something else; :func:`self_check` (run by ``winclip`` before
scoring, result recorded) additionally verifies on a random image that the
full-sequence output equals ``visual(image)`` and that batched windows equal
windows computed one at a time. The tests compare the batched windows with one
forward per window, with the class-token output of the *full* sequence under
an attention mask that confines attention to the window, and with
``encode_image`` for a window covering the whole grid.

Token embedding mirrors ``VisionTransformer._embeds`` of open_clip 3.3.0
(``conv1`` -> flatten -> prepend ``class_embedding`` -> add
``positional_embedding`` -> ``patch_dropout`` (identity in eval) -> ``ln_pre``);
the tests check it equals ``_embeds`` when that exists.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from open_clip.transformer import VisionTransformer  # the tower check_vision_tower accepted


def check_vision_tower(visual: torch.nn.Module) -> None:
    """Fail loudly unless ``visual`` is an open_clip ViT whose layout this module handles."""
    from open_clip.transformer import VisionTransformer

    if not isinstance(visual, VisionTransformer):
        raise ValueError(f"WinCLIP needs an open_clip VisionTransformer image tower, got {type(visual).__name__}")
    if getattr(visual.transformer, "batch_first", None) is not True:
        raise RuntimeError(
            "open_clip vision transformer is not batch-first: window embeddings would be computed with the wrong "
            "token layout; refusing to run (install the open_clip_torch version asebench pins: >=3.3.0,<4)"
        )
    if visual.attn_pool is not None or visual.pool_type != "tok" or visual.final_ln_after_pool:
        raise ValueError(
            "WinCLIP needs class-token pooling (pool_type 'tok', no attentional pooler, ln_post before pooling)"
        )
    if visual.proj is None:
        raise ValueError("the vision tower has no projection: window embeddings would not live in the text space")
    if visual.training:
        raise RuntimeError("the vision tower must be in eval mode (patch dropout would drop window tokens)")


def grid_size(visual: VisionTransformer) -> tuple[int, int]:
    rows, cols = visual.grid_size
    return int(rows), int(cols)


def embed_tokens(visual: VisionTransformer, images: torch.Tensor) -> torch.Tensor:
    """(B, 1 + L, width): class + patch tokens with positional embeddings and ``ln_pre`` applied."""
    x = visual.conv1(images)
    x = x.reshape(x.shape[0], x.shape[1], -1).permute(0, 2, 1)
    cls = visual.class_embedding.to(x.dtype).view(1, 1, -1).expand(x.shape[0], -1, -1)
    x = torch.cat([cls, x], dim=1) + visual.positional_embedding.to(x.dtype)
    x = visual.patch_dropout(x)
    return visual.ln_pre(x)


def encode_sequences(visual: VisionTransformer, tokens: torch.Tensor) -> torch.Tensor:
    """Run batch-first sequences (N, T, width) whose first token is the class token -> (N, embed_dim)."""
    x = visual.transformer(tokens)
    return visual.ln_post(x[:, 0]) @ visual.proj


def full_pass(visual: VisionTransformer, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The ordinary forward: (image embedding (B, E), un-projected patch tokens after ``ln_post`` (B, L, width))."""
    x = visual.ln_post(visual.transformer(tokens))
    return x[:, 0] @ visual.proj, x[:, 1:]


def window_indices(rows: int, cols: int, k: int) -> torch.Tensor:
    """(num_windows, k*k) row-major patch indices of every k x k window at stride 1."""
    if not 1 <= k <= min(rows, cols):
        raise ValueError(f"window size {k} does not fit a {rows}x{cols} patch grid")
    r = torch.arange(rows - k + 1).view(-1, 1, 1, 1)
    c = torch.arange(cols - k + 1).view(1, -1, 1, 1)
    i = torch.arange(k).view(1, 1, -1, 1)
    j = torch.arange(k).view(1, 1, 1, -1)
    return ((r + i) * cols + (c + j)).reshape(-1, k * k)


def window_sequences(tokens: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
    """(B * num_windows, 1 + k*k, width): each window's class token + its patch tokens, batch-first."""
    batch, _, width = tokens.shape
    windows, size = indices.shape
    patches = tokens[:, 1:][:, indices.to(tokens.device)]  # (B, W, k*k, width)
    cls = tokens[:, :1].unsqueeze(1).expand(batch, windows, 1, width)
    return torch.cat([cls, patches], dim=2).reshape(batch * windows, 1 + size, width)


def window_embeddings(
    visual: VisionTransformer, tokens: torch.Tensor, indices: torch.Tensor, chunk: int = 1024
) -> torch.Tensor:
    """(B, num_windows, E) window embeddings, ``chunk`` window sequences per transformer call."""
    sequences = window_sequences(tokens, indices)
    out = torch.cat([encode_sequences(visual, sequences[s : s + chunk]) for s in range(0, len(sequences), chunk)])
    return out.reshape(tokens.shape[0], indices.shape[0], -1)


def harmonic_map(window_scores: torch.Tensor, indices: torch.Tensor, num_patches: int) -> torch.Tensor:
    """(B, W) window scores -> (B, L) per patch: n / sum(1 / s_w) over the n windows covering the patch."""
    incidence = torch.zeros(indices.shape[0], num_patches, dtype=window_scores.dtype, device=window_scores.device)
    incidence.scatter_(1, indices.to(window_scores.device), 1.0)
    counts = incidence.sum(dim=0)
    if bool((counts == 0).any()):
        raise ValueError("some patches are covered by no window")
    inverse = 1.0 / window_scores.clamp_min(torch.finfo(window_scores.dtype).tiny)
    return counts / (inverse @ incidence)


def harmonic_mean(maps: Sequence[torch.Tensor]) -> torch.Tensor:
    """Element-wise harmonic mean of same-shape maps: n / sum(1 / M_i)."""
    stacked = torch.stack(list(maps))
    return len(maps) / (1.0 / stacked.clamp_min(torch.finfo(stacked.dtype).tiny)).sum(dim=0)


@dataclass(frozen=True)
class VisualFeatures:
    """Everything WinCLIP needs from one batch of images, L2-normalised."""

    image: torch.Tensor  # (B, E) class-token embedding
    patches: torch.Tensor  # (B, L, width) un-projected patch tokens after ln_post
    windows: dict[int, torch.Tensor]  # k -> (B, W_k, E)

    def select(self, rows: Sequence[int]) -> VisualFeatures:
        """The features of some images of the batch."""
        index = torch.as_tensor(list(rows), dtype=torch.long, device=self.image.device)
        return VisualFeatures(self.image[index], self.patches[index], {k: w[index] for k, w in self.windows.items()})

    @staticmethod
    def concat(parts: Sequence[VisualFeatures]) -> VisualFeatures:
        """The features of several batches as one batch, in order."""
        return VisualFeatures(
            torch.cat([p.image for p in parts]),
            torch.cat([p.patches for p in parts]),
            {k: torch.cat([p.windows[k] for p in parts]) for k in parts[0].windows},
        )


def extract_features(
    visual: VisionTransformer, images: torch.Tensor, indices: dict[int, torch.Tensor], chunk: int = 1024
) -> VisualFeatures:
    """One full pass plus the batched window passes of every window size, normalised."""
    normalize = torch.nn.functional.normalize
    tokens = embed_tokens(visual, images)
    image, patches = full_pass(visual, tokens)
    windows = {
        k: normalize(window_embeddings(visual, tokens, idx, chunk).float(), dim=-1) for k, idx in indices.items()
    }
    return VisualFeatures(normalize(image.float(), dim=-1), normalize(patches.float(), dim=-1), windows)


def self_check(visual: VisionTransformer, device: str, tolerance: float = 1e-3) -> dict[str, float]:
    """Run-time guard against open_clip drifting from the layout this module assumes.

    On one random image: (1) the class-token output of our token embedding run
    through :func:`encode_sequences` must equal ``visual(image)`` (our token
    layout, positional embeddings and pooling match the installed open_clip);
    (2) a batch of windows must equal the same windows computed one at a time
    (no attention across the batch: the >= 2.26.1 trap). Raises RuntimeError
    with the discrepancy otherwise; returns the measured differences (relative
    to the embedding scale) for the record. Costs about one full forward pass.
    """
    rows, cols = grid_size(visual)
    size = visual.image_size[0] if isinstance(visual.image_size, (tuple, list)) else visual.image_size
    image = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(0)).to(device)
    with torch.inference_mode():
        tokens = embed_tokens(visual, image)
        reference = visual(image).float()
        ours = encode_sequences(visual, tokens).float()
        scale = float(reference.abs().max()) or 1.0
        layout = float((ours - reference).abs().max()) / scale
        indices = window_indices(rows, cols, min(2, rows, cols))[:8]
        batched = window_embeddings(visual, tokens, indices).float()[0]
        single = torch.cat(
            [window_embeddings(visual, tokens, indices[i : i + 1]).float()[0] for i in range(len(indices))]
        )
        windows = float((batched - single).abs().max()) / (float(single.abs().max()) or 1.0)
    if layout > tolerance or windows > tolerance:
        raise RuntimeError(
            f"open_clip layout self-check failed (full image {layout:.2e}, windows {windows:.2e}, relative): the installed "
            "open_clip's VisionTransformer no longer matches asebench.methods._clip.windows; refusing to compute wrong window embeddings"
        )
    return {"full_image_rel_diff": layout, "batched_windows_rel_diff": windows}
