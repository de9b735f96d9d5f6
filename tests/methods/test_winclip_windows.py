"""WinCLIP window embeddings on open_clip 3.x: batched = one-at-a-time = masked attention; the layout trap.

A small randomly initialised open_clip ViT (64 px, patch 16: a 4x4 grid) keeps
this fast on CPU; the maths does not depend on the weights.
"""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")
pytest.importorskip("open_clip")

import torch

from asebench.methods._clip import windows as W
from asebench.methods._clip.model import load_clip
from asebench.methods._clip.options import ClipOptions

TINY = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "patch_size": 16, "head_width": 32},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}
ATOL = 1e-5


@pytest.fixture(scope="module")
def visual(tmp_path_factory: pytest.TempPathFactory) -> torch.nn.Module:
    path = tmp_path_factory.mktemp("clip") / "tiny-clip.json"
    path.write_text(json.dumps(TINY))
    return load_clip(ClipOptions(model=str(path), weights="random"), "cpu").model.visual


@pytest.fixture(scope="module")
def tokens(visual: torch.nn.Module) -> torch.Tensor:
    images = torch.randn(3, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        return W.embed_tokens(visual, images)


def one_window(visual: torch.nn.Module, tokens: torch.Tensor, image: int, patch_indices: torch.Tensor) -> torch.Tensor:
    """The reference: one transformer forward for one window of one image."""
    sequence = torch.cat([tokens[image : image + 1, :1], tokens[image : image + 1, 1:][:, patch_indices]], dim=1)
    return W.encode_sequences(visual, sequence)[0]


def test_window_grid_counts_match_the_paper_on_a_15x15_grid() -> None:
    assert W.window_indices(15, 15, 2).shape == (196, 4)
    assert W.window_indices(15, 15, 3).shape == (169, 9)
    assert W.window_indices(3, 4, 2).tolist() == [
        [0, 1, 4, 5],
        [1, 2, 5, 6],
        [2, 3, 6, 7],
        [4, 5, 8, 9],
        [5, 6, 9, 10],
        [6, 7, 10, 11],
    ]
    with pytest.raises(ValueError, match="does not fit"):
        W.window_indices(4, 4, 5)


def test_token_layout_matches_open_clip_and_a_full_grid_window_is_encode_image(visual: torch.nn.Module) -> None:
    images = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        tokens = W.embed_tokens(visual, images)
        if hasattr(visual, "_embeds"):  # open_clip 3.x private helper: our copy must agree with it
            torch.testing.assert_close(tokens, visual._embeds(images))
        everything = W.window_embeddings(visual, tokens, W.window_indices(4, 4, 4))
        image, patches = W.full_pass(visual, tokens)
        torch.testing.assert_close(everything[:, 0], visual(images), atol=ATOL, rtol=0)
        torch.testing.assert_close(image, visual(images), atol=ATOL, rtol=0)
    assert patches.shape == (2, 16, 64)


@pytest.mark.parametrize("k", [2, 3])
@pytest.mark.parametrize("chunk", [1, 5, 4096])
def test_batched_window_embeddings_equal_one_forward_per_window(
    visual: torch.nn.Module, tokens: torch.Tensor, k: int, chunk: int
) -> None:
    indices = W.window_indices(4, 4, k)
    with torch.inference_mode():
        batched = W.window_embeddings(visual, tokens, indices, chunk=chunk)
        reference = torch.stack(
            [torch.stack([one_window(visual, tokens, b, idx) for idx in indices]) for b in range(len(tokens))]
        )
    assert batched.shape == (3, len(indices), 32)
    torch.testing.assert_close(batched, reference, atol=ATOL, rtol=0)


def test_a_window_embedding_equals_the_full_sequence_with_attention_confined_to_the_window(
    visual: torch.nn.Module, tokens: torch.Tensor
) -> None:
    """An independent route through open_clip's own masked attention.

    The full 1 + 16 token sequence, where the class token and the window's tokens may only attend
    to each other.
    """
    indices = W.window_indices(4, 4, 3)
    with torch.inference_mode():
        windows = W.window_embeddings(visual, tokens, indices)
        for w in (0, 3):
            keep = torch.cat([torch.tensor([0]), indices[w] + 1])
            mask = torch.zeros(17, 17)
            blocked = torch.ones(17, dtype=torch.bool)
            blocked[keep] = False
            mask[keep.unsqueeze(1), blocked.nonzero().view(1, -1)] = float("-inf")
            out = visual.transformer(tokens[:1], attn_mask=mask)
            masked = visual.ln_post(out[:, 0]) @ visual.proj
            torch.testing.assert_close(windows[0, w], masked[0], atol=ATOL, rtol=0)


def test_a_window_ignores_the_other_windows_and_images_in_its_batch(
    visual: torch.nn.Module, tokens: torch.Tensor
) -> None:
    """The open_clip >= 2.26.1 trap makes windows attend to each other; here they must not."""
    indices = W.window_indices(4, 4, 2)
    altered = tokens.clone()
    altered[1:] = torch.randn_like(altered[1:])  # other images of the batch
    noise = torch.randn(len(indices[-1]), altered.shape[-1], generator=torch.Generator().manual_seed(2))
    altered[0, 1 + indices[-1]] += noise  # the last window's own patches
    with torch.inference_mode():
        before = W.window_embeddings(visual, tokens, indices)
        after = W.window_embeddings(visual, altered, indices)
    untouched = [w for w in range(len(indices)) if not set(indices[w].tolist()) & set(indices[-1].tolist())]
    assert untouched  # windows sharing no patch with the altered one
    torch.testing.assert_close(after[0, untouched], before[0, untouched], atol=ATOL, rtol=0)
    assert (after[0, -1] - before[0, -1]).abs().max() > 1e-3  # the altered window does change


def test_the_anomalib_layout_would_be_caught(visual: torch.nn.Module, tokens: torch.Tensor) -> None:
    """Feeding (tokens, windows, width) to the batch-first transformer, as anomalib does, mixes the windows.

    Attention then runs across windows (token position i of every window attends to position i of
    the others): every "window embedding" becomes the same class-token-only output, blind to the window's patches. The
    checks above (one forward per window, sensitivity to the window's own patches) both fail for it.
    """
    indices = W.window_indices(4, 4, 2)

    def anomalib_style(t: torch.Tensor) -> torch.Tensor:
        sequences = W.window_sequences(t[:1], indices)  # (windows, 5, width)
        x = visual.transformer(sequences.permute(1, 0, 2)).permute(1, 0, 2)  # seq-first into a batch-first stack
        return visual.ln_post(x[:, 0]) @ visual.proj

    with torch.inference_mode():
        correct = W.window_embeddings(visual, tokens[:1], indices)[0]
        wrong = anomalib_style(tokens)
        altered = tokens.clone()
        altered[0, 1 + indices[-1]] += torch.randn(4, altered.shape[-1], generator=torch.Generator().manual_seed(3))
        wrong_altered = anomalib_style(altered)
    assert (wrong - correct).abs().max() > 1e-3  # fails "equal to one forward per window"
    torch.testing.assert_close(wrong_altered[-1], wrong[-1])  # blind to its own patches: fails the sensitivity check
    torch.testing.assert_close(wrong[0], wrong[-1])  # and all windows collapse to one embedding


def test_a_sequence_first_transformer_or_training_mode_is_refused(visual: torch.nn.Module) -> None:
    W.check_vision_tower(visual)
    visual.transformer.batch_first = False
    try:
        with pytest.raises(RuntimeError, match="not batch-first"):
            W.check_vision_tower(visual)
    finally:
        visual.transformer.batch_first = True
    visual.train()
    try:
        with pytest.raises(RuntimeError, match="eval mode"):
            W.check_vision_tower(visual)
    finally:
        visual.eval()


def test_the_run_time_self_check_passes_here_and_fails_on_a_broken_layout(
    visual: torch.nn.Module, monkeypatch: pytest.MonkeyPatch
) -> None:
    checked = W.self_check(visual, "cpu")
    assert checked["full_image_rel_diff"] < 1e-5 and checked["batched_windows_rel_diff"] < 1e-5

    def anomalib_layout(v: torch.nn.Module, t: torch.Tensor) -> torch.Tensor:  # sequence-first into batch-first
        return v.ln_post(v.transformer(t.permute(1, 0, 2)).permute(1, 0, 2)[:, 0]) @ v.proj

    monkeypatch.setattr(W, "encode_sequences", anomalib_layout)
    with pytest.raises(RuntimeError, match="self-check failed"):
        W.self_check(visual, "cpu")


def test_text_encoding_on_the_prompts_length_equals_the_full_context(tmp_path_factory: pytest.TempPathFactory) -> None:
    from asebench.methods._clip.model import encode_tokens

    path = tmp_path_factory.mktemp("clip") / "tiny-clip.json"
    path.write_text(json.dumps(TINY))
    bundle = load_clip(ClipOptions(model=str(path), weights="random"), "cpu")
    prompts = ["a photo of a flawless washer.", "a cropped photo of the damaged grid with a long list of words in it."]
    tokens = bundle.tokenizer(prompts)
    assert int(tokens.argmax(dim=-1).max()) + 1 < tokens.shape[1]  # the shortcut really drops positions
    with torch.inference_mode():
        full = bundle.model.encode_text(tokens)
        short = encode_tokens(bundle.model, tokens)
        one = encode_tokens(bundle.model, tokens[:1])  # the batch's longest prompt sets the length; alone it is shorter
    torch.testing.assert_close(short, full, atol=ATOL, rtol=1e-5)
    torch.testing.assert_close(one, full[:1], atol=ATOL, rtol=1e-5)
