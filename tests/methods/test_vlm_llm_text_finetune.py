"""Fine-tuning the sentence encoder's last layers (``text_finetune_layers``) on a tiny random BERT.

Exactness (the tower reproduces the frozen vectors), the attention mask the
installed transformers expects, isolation (only the copied top layers train;
the shared frozen encoder never changes), the draw order, clear errors, and
the method end to end.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from asebench.api.errors import ConfigError

pytest.importorskip("torch")
pytest.importorskip("transformers")

import torch
import transformers

from asebench.methods._vlm_llm.options import VlmLlmOptions
from asebench.methods._vlm_llm.text_encoder import TextEncoder, mean_pool
from asebench.methods._vlm_llm.text_finetune import (
    TextTower,
    TokenStates,
    encoder_layers,
    text_towers,
    token_states,
)
from asebench.methods._vlm_llm.training import StreamInputs, infer, train

WORDS = [
    "the",
    "a",
    "of",
    "in",
    "at",
    "is",
    "and",
    "dots",
    "dot",
    "cloud",
    "ring",
    "rings",
    "top",
    "bottom",
    "left",
    "right",
    "centre",
    "dense",
    "sparse",
    "round",
    "type",
    "normal",
]
CHARACTERS = list("abcdefghijklmnopqrstuvwxyz0123456789")
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS, *CHARACTERS, *(f"##{c}" for c in CHARACTERS), *".,%()-"]
TEXTS = [
    "the dots form a ring at the top left",
    "a dense cloud in the centre",
    "type 3",
    "sparse dots at the bottom right of the 5th ring, and a round dense cloud in the centre of the rings",
    "normal",
    "the cloud is round and dense, 12% of the dots lie at the left",
    "dots at the top",
    "a ring of sparse dots",
]
LAYERS = 2


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random 2-layer BERT (hidden 32) with a word-piece tokenizer, saved like a Hugging Face model directory."""
    directory = tmp_path_factory.mktemp("tiny-bert")
    (directory / "vocab.txt").write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
    transformers.BertTokenizerFast(vocab_file=str(directory / "vocab.txt")).save_pretrained(directory)
    torch.manual_seed(0)
    config = transformers.BertConfig(
        vocab_size=len(VOCAB),
        hidden_size=32,
        num_hidden_layers=LAYERS,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=256,
    )
    transformers.BertModel(config).save_pretrained(directory, safe_serialization=True)
    return directory


def pooled_by_tower(tower: TextTower, states: TokenStates) -> np.ndarray:
    with torch.no_grad():
        return tower.eval()(*states.batch(np.arange(len(states)), "cpu")).numpy()


@pytest.mark.parametrize("layers", [1, LAYERS])
def test_the_tower_reproduces_the_frozen_vectors_before_training(
    tiny_encoder: Path, tmp_path: Path, layers: int
) -> None:
    encoder = TextEncoder(tiny_encoder, tmp_path)
    frozen = encoder.encode(TEXTS)
    tower = TextTower.from_encoder(encoder, layers)
    exact = token_states(encoder, [[text] for text in TEXTS], frozen[:, None], layers, dtype=torch.float32).first()
    assert np.abs(pooled_by_tower(tower, exact) - frozen).max() < 1e-5
    stored = token_states(encoder, [[text] for text in TEXTS], frozen[:, None], layers).first()  # float16, the default
    assert stored.hidden.dtype == torch.float16
    assert np.abs(pooled_by_tower(tower, stored) - frozen).max() < 1e-3


@pytest.mark.parametrize("implementation", ["eager", "sdpa", "additive-fallback"])
def test_the_layers_get_the_mask_format_they_expect(
    tiny_encoder: Path, implementation: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A padded batch through the copied top layer equals the model's own forward, whatever builds the mask.

    ``additive-fallback`` hides ``transformers.masking_utils`` and uses the
    (batch, 1, 1, T) float mask that transformers < 4.56 passed to its layers.
    """
    attention = "sdpa" if implementation == "additive-fallback" else implementation
    model = transformers.AutoModel.from_pretrained(
        tiny_encoder, local_files_only=True, attn_implementation=attention
    ).eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(tiny_encoder, local_files_only=True)
    batch = tokenizer(TEXTS, padding=True, return_tensors="pt")
    assert not bool(batch["attention_mask"].all())  # the batch really is padded
    if implementation == "additive-fallback":
        monkeypatch.setitem(sys.modules, "transformers.masking_utils", None)
    with torch.no_grad():
        out = model(**batch, output_hidden_states=True)
        expected = mean_pool(out.last_hidden_state, batch["attention_mask"])
        tower = TextTower(encoder_layers(model)[-1:], model.config).eval()
        pooled = tower(out.hidden_states[-2], batch["attention_mask"].bool())
    assert torch.allclose(pooled, expected, atol=1e-5)


def test_too_many_layers_is_a_clear_error(tiny_encoder: Path, tmp_path: Path) -> None:
    encoder = TextEncoder(tiny_encoder, tmp_path)
    with pytest.raises(ConfigError, match=r"text_finetune_layers is 3 .* only 2 transformer layers"):
        TextTower.from_encoder(encoder, LAYERS + 1)
    with pytest.raises(ConfigError, match=r"text_finetune_layers is 3 .* only 2 transformer layers"):
        token_states(encoder, [[text] for text in TEXTS], encoder.encode(TEXTS)[:, None], LAYERS + 1)


def test_an_encoder_without_a_layer_list_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"model\.encoder\.layer"):
        encoder_layers(torch.nn.Linear(2, 2))


def test_options_default_to_the_frozen_encoder() -> None:
    options = VlmLlmOptions()
    assert options.text_finetune_layers == 0 and options.text_finetune_lr == 2e-5
    assert VlmLlmOptions(text_finetune_layers=6).text_finetune_layers == 6


@pytest.mark.parametrize("bad", [{"text_finetune_layers": -1}, {"text_finetune_lr": 0.0}, {"text_finetune": 1}])
def test_invalid_fine_tuning_options_are_rejected(bad: dict) -> None:
    with pytest.raises(ValidationError):
        VlmLlmOptions(**bad)


def _pooled_inputs(
    encoder: TextEncoder, count: int, pool: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, TokenStates]:
    """Labels, an image pool (count, 3, 4), and the same text pool as vectors and as token states."""
    rng = np.random.default_rng(0)
    labels = np.arange(count) % 2
    image = rng.normal(size=(count, 3, 4)).astype(np.float32) + labels[:, None, None]
    texts = [[TEXTS[(2 * i + j + labels[i]) % len(TEXTS)] for j in range(pool)] for i in range(count)]
    vectors = encoder.encode([text for per_sample in texts for text in per_sample]).reshape(count, pool, -1)
    return labels, image, vectors, token_states(encoder, texts, vectors, 1)


def test_the_epoch_draw_is_unchanged_by_token_states(tiny_encoder: Path, tmp_path: Path) -> None:
    """Same generator calls: the image views drawn and each sample's text are the same either way."""
    _labels, image, vectors, states = _pooled_inputs(TextEncoder(tiny_encoder, tmp_path), 10, 2)
    as_vectors = StreamInputs({"image": image, "vlm": vectors}).draw(np.random.default_rng(5))
    as_states = StreamInputs({"image": image, "vlm": states}).draw(np.random.default_rng(5))
    assert np.array_equal(as_vectors["image"], as_states["image"])
    assert np.array_equal(as_vectors["vlm"], as_states["vlm"].vectors)


def test_training_moves_only_the_copied_top_layer(tiny_encoder: Path, tmp_path: Path) -> None:
    encoder = TextEncoder(tiny_encoder, tmp_path)
    frozen_model = encoder.model()
    before = {name: value.clone() for name, value in frozen_model.state_dict().items()}
    labels, image, _, states = _pooled_inputs(encoder, 24, 2)
    towers = text_towers(encoder, {"vlm": states}, 1)
    options = VlmLlmOptions(
        streams=["image", "vlm"],
        text_finetune_layers=1,
        text_finetune_lr=1e-2,
        dim=16,
        cmaf_heads=2,
        epochs=4,
        batch_size=8,
        lr=1e-3,
    )
    val = {"image": image[:, 0], "vlm": states.first()}
    outcome = train(
        StreamInputs({"image": image, "vlm": states}),
        labels,
        val,
        labels,
        2,
        options,
        0,
        "cpu",
        lambda *_: None,
        towers,
        patience=30,
    )

    tower = outcome.model.text_towers["vlm"]
    assert any(
        key.startswith("text_towers.vlm.layers.0.") for key in outcome.model.state_dict()
    )  # restored with the best epoch
    last = encoder_layers(frozen_model)[-1].state_dict()
    trained = tower.layers[0].state_dict()
    assert any(not torch.equal(trained[key], last[key]) for key in last)
    assert all(
        torch.equal(value, before[name]) for name, value in frozen_model.state_dict().items()
    )  # lower layers, embeddings, all
    assert encoder.model() is frozen_model  # still the one shared, cached model
    assert sum(p.numel() for p in tower.parameters()) == sum(
        p.numel() for p in encoder_layers(frozen_model)[-1].parameters()
    )
    # the restored state (head and tower alike) is the best epoch's: it scores what training recorded
    from asebench.scoring.classification import macro_f1

    predicted = infer(outcome.model, val, "cpu")["probabilities"].argmax(1)
    assert macro_f1(labels, predicted, 2) == pytest.approx(outcome.best_val_macro_f1)


def test_the_method_end_to_end_with_and_without_fine_tuning(
    tiny_encoder: Path, tiny_folder_dataset, tmp_path: Path
) -> None:
    pytest.importorskip("timm")
    from asebench.api.data import Task
    from asebench.api.method import MethodContext, make_views
    from asebench.datasets.folder import FolderDataset, FolderOptions
    from asebench.methods.vlm_llm import VlmLlmFusion
    from asebench.run.splits import SplitConfig, make_split

    dataset = FolderDataset(FolderOptions(root=tiny_folder_dataset())).load()
    split = make_split(dataset.labels(Task.MULTICLASS), SplitConfig(), seed=0)
    train_view, val_view, test_view = make_views(dataset, Task.MULTICLASS, (split.train, split.val, split.test))
    context = MethodContext(seed=0, cache_dir=tmp_path / "cache")
    tiny = {"image_size": 32, "dim": 16, "cmaf_heads": 2, "epochs": 3, "tda_views": 1, "text_pool": 2, "batch_size": 8}
    for layers, trainable in (
        (1, 2 * sum(p.numel() for p in encoder_layers(TextEncoder(tiny_encoder, tmp_path).model())[-1].parameters())),
        (0, 0),
    ):
        options = VlmLlmOptions(
            **tiny, ocr="none", text_encoder=str(tiny_encoder), text_max_length=32, text_finetune_layers=layers
        )
        method = VlmLlmFusion(options, context)
        method.fit(train_view, val_view)
        predictions = method.predict(test_view)
        probabilities = predictions.probabilities
        assert probabilities.shape == (len(test_view), train_view.num_classes) and np.isfinite(probabilities).all()
        assert np.allclose(probabilities.sum(1), 1.0, atol=1e-5)
        provenance = method.provenance()
        assert provenance["text_finetune_layers"] == layers
        assert provenance["text_encoder_trainable_parameters"] == trainable  # one copy per text stream (vlm, llm)
        assert set(provenance["gate_mean_on_test"]) == {"image", "vlm", "llm"}
