"""A text's embedding is a function of the text alone: not of its companions, the cache, or the thread count.

Cells fill the shared embedding cache with whatever texts are missing when
they run, in whichever process runs them; a vector that depended on the
other texts of its batch would make results depend on the schedule.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from asebench.methods._vlm_llm.text_encoder import TextEncoder, resolve_text_encoder

TEXTS = [
    "The dots gather tightly around the centre; nine in ten lie within 0.4 of the radius.",
    "A wide, flat cloud: the accumulated points between 25~30 are closest to type2's average.",
    "Short.",
    "It is clearly closer to normal than to the next candidate, defect, " * 6,
]


@pytest.fixture(scope="module")
def encoder_directory() -> Path:
    directory, reason = resolve_text_encoder("auto")
    if directory is None:
        pytest.skip(f"no offline text encoder: {reason}")
    return directory


def test_a_texts_vector_does_not_depend_on_its_companions_or_the_cache(encoder_directory: Path, tmp_path: Path) -> None:
    together = TextEncoder(encoder_directory, tmp_path / "a").encode(TEXTS)
    alone = np.stack([TextEncoder(encoder_directory, tmp_path / f"b{i}").encode([t])[0] for i, t in enumerate(TEXTS)])
    reversed_order = TextEncoder(encoder_directory, tmp_path / "c").encode(TEXTS[::-1])[::-1]
    assert np.array_equal(together, alone) and np.array_equal(together, reversed_order)
    cached = TextEncoder(encoder_directory, tmp_path / "a")
    assert np.array_equal(cached.encode(TEXTS[1:3]), together[1:3]) and cached.computed == 0


def test_a_texts_vector_is_the_same_at_one_and_two_threads(encoder_directory: Path, tmp_path: Path) -> None:
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = TextEncoder(encoder_directory, tmp_path / "one").encode(TEXTS)
        torch.set_num_threads(2)
        two = TextEncoder(encoder_directory, tmp_path / "two").encode(TEXTS)
    finally:
        torch.set_num_threads(before)
    assert np.array_equal(one, two)


def test_texts_another_process_stored_meanwhile_are_read_not_embedded_again(
    encoder_directory: Path, tmp_path: Path
) -> None:
    """Under a text's claim the encoder looks at the cache file again: a worker beside it may have stored the text."""
    late = TextEncoder(encoder_directory, tmp_path)
    late.encode(["read before the other process stored anything"])  # loads the (empty) cache into memory
    early = TextEncoder(encoder_directory, tmp_path)
    stored = early.encode(TEXTS)
    assert early.computed == len(TEXTS)
    assert np.array_equal(late.encode(TEXTS), stored)
    assert late.computed == 1  # only its own first text
    assert TextEncoder(encoder_directory, tmp_path).encode(TEXTS[::-1]).shape == (len(TEXTS), stored.shape[1])
