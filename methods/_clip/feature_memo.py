"""Per-image WinCLIP features kept between the cells of one run, within a memory budget.

``winclip`` and ``winclip-fewshot`` embed the same test images with the same
model: the window passes (every 2x2 and 3x3 window of the patch grid through
the whole transformer) are nearly all of their cost, and the runner plans the
two methods' cells of a category one after the other. The memo lives on the
:class:`~asebench.methods._clip.model.ClipBundle` (one model, one input size),
so a key only has to name the image file and the window sizes; images given
as arrays are never memoised. Least recently used entries go first once the
budget is reached.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable

from asebench.methods._clip.windows import VisualFeatures

DEFAULT_BUDGET_BYTES = 1 << 30  # 1 GiB: ~600 images' features at 240 px (ViT-B-16-plus-240), ~4,000 at 112 px


def feature_bytes(features: VisualFeatures) -> int:
    """Memory held by one image's features."""
    tensors = [features.image, features.patches, *features.windows.values()]
    return sum(t.numel() * t.element_size() for t in tensors)


class FeatureMemo:
    """An LRU map from (image file, window sizes) to that image's :class:`VisualFeatures`."""

    def __init__(self, budget_bytes: int = DEFAULT_BUDGET_BYTES) -> None:
        self.budget_bytes = budget_bytes
        self.used_bytes = 0
        self.hits = 0
        self._entries: OrderedDict[Hashable, tuple[VisualFeatures, int]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Hashable) -> VisualFeatures | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return entry[0]

    def put(self, key: Hashable, features: VisualFeatures) -> None:
        size = feature_bytes(features)
        if size > self.budget_bytes:
            return
        if key in self._entries:
            self.used_bytes -= self._entries.pop(key)[1]
        while self._entries and self.used_bytes + size > self.budget_bytes:
            self.used_bytes -= self._entries.popitem(last=False)[1][1]
        self._entries[key] = (features, size)
        self.used_bytes += size
