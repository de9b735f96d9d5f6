"""Progressive Feature Alignment (PFA): a supervised contrastive loss on a growing, ranked subset.

The paper says PFA aligns image and text features with a contrastive objective,
trained progressively, starting from "a small subset of positive and negative
samples based on the self-similarity ranking". Our reading (``docs/paper-model-defaults.md``,
"Progressive Feature Alignment (PFA)"; none of it is the paper's):

* anchors are L2-normalised image embeddings, candidates the batch's texts of
  one stream; positives share the anchor's class, negatives do not;
* negatives are ranked hardest first (highest similarity), positives easiest
  first (highest similarity), and only the top ``fraction`` of each is kept;
  the anchor's own text is always a positive;
* the fraction grows over training by stages (10 %, 25 %, 50 %, 100 %);
* loss = -log(sum_P exp(s/t) / sum_{P + N_sel} exp(s/t)), averaged over anchors.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F


def stage_fraction(stages: Sequence[tuple[float, float]], epoch: int, total_epochs: int) -> float:
    """The selected fraction at 0-based ``epoch``: the stage holding the epoch's midpoint.

    Stage shares are normalised to the run's length, so short runs still pass
    through the stages in order and end on the last one.
    """
    total_share = sum(share for _, share in stages)
    position = (epoch + 0.5) / total_epochs * total_share
    boundary = 0.0
    for fraction, share in stages:
        boundary += share
        if position < boundary:
            return fraction
    return stages[-1][0]


def _top_fraction_mask(scores: torch.Tensor, candidates: torch.Tensor, fraction: float) -> torch.Tensor:
    """Per row, keep the highest-scoring ``ceil(fraction * count)`` candidates (at least one if any)."""
    counts = candidates.sum(dim=1)
    keep = torch.ceil(counts.float() * fraction).long().clamp(min=1)
    keep = torch.minimum(keep, counts)
    ranked = scores.masked_fill(~candidates, float("-inf")).argsort(dim=1, descending=True)
    ranks = torch.empty_like(ranked)
    ranks.scatter_(1, ranked, torch.arange(scores.shape[1], device=scores.device).expand_as(ranked))
    return candidates & (ranks < keep.unsqueeze(1))


def progressive_contrastive_loss(
    anchors: torch.Tensor, texts: torch.Tensor, labels: torch.Tensor, fraction: float, temperature: float
) -> torch.Tensor:
    """Supervised InfoNCE between image anchors and one text stream over the selected pairs."""
    anchors = F.normalize(anchors, dim=-1)
    texts = F.normalize(texts, dim=-1)
    logits = anchors @ texts.T / temperature
    same = labels.unsqueeze(0) == labels.unsqueeze(1)
    own = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    with torch.no_grad():
        positives = _top_fraction_mask(logits, same & ~own, fraction) | own
        negatives = _top_fraction_mask(logits, ~same, fraction)
    selected = positives | negatives
    log_denominator = torch.logsumexp(logits.masked_fill(~selected, float("-inf")), dim=1)
    log_numerator = torch.logsumexp(logits.masked_fill(~positives, float("-inf")), dim=1)
    return (log_denominator - log_numerator).mean()
