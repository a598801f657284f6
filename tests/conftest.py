"""Tiny, offline, seeded components shared by the test suite (no hub, no network, CPU, milliseconds to build).

`build_tiny_components(...)` returns every component of `VideoComposerPipeline` (the real classes at tiny sizes); the
fixtures below hand it and its parts to tests. Imports of project models happen inside the builders so that a broken
model module fails only the tests that use it.

Tiny sizes: video 32x32 (latent 4x4, VAE factor 8 as the real SD VAE), text width 32, 16-token context, style
embedding 16, STC with every release condition.
"""

import string
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import torch

TEXT_DIM = 32
IMAGE_EMBED_DIM = 16
CONTEXT_LENGTH = 16
TINY_WORDS = ("a", "cat", "dog", "car", "red", "runs", "in", "the", "snow", "sea")


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """Tiny models run fastest on one thread on a shared 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def fill_zero_parameters(model: torch.nn.Module, seed: int = 0, std: float = 0.05) -> torch.nn.Module:
    """Give zero-initialised parameters small random values, so that every input visibly reaches the output."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in model.parameters():
            if not parameter.any():
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * std)
    return model


def build_tiny_tokenizer():
    """A CLIP BPE tokenizer from a hand-written vocabulary: letters, letters at word end, the words of TINY_WORDS."""
    from transformers import CLIPTokenizer

    letters = list(string.ascii_lowercase)
    vocab = {symbol: i for i, symbol in enumerate(letters + [f"{c}</w>" for c in letters])}
    merges = []
    for word in TINY_WORDS:  # merge each word left to right: c a -> ca, ca t</w> -> cat</w>
        pieces = list(word[:-1]) + [f"{word[-1]}</w>"]
        while len(pieces) > 1:
            merges.append((pieces[0], pieces[1]))
            pieces = [pieces[0] + pieces[1]] + pieces[2:]
            vocab.setdefault(pieces[0], len(vocab))
    merges = list(dict.fromkeys(merges))
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    tokenizer = CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=CONTEXT_LENGTH)
    assert tokenizer.vocab_size == len(vocab), "CLIPTokenizer ignored the hand-written vocabulary"
    return tokenizer


def build_tiny_components(
    conditions: dict[str, int] | None = None,
    image_encoder: bool = True,
    image_embed_dim: int | None = IMAGE_EMBED_DIM,
    seed: int = 0,
) -> dict[str, Any]:
    """Every `VideoComposerPipeline` component at tiny size, seeded, in eval mode.

    Args:
        conditions: STC condition name -> channels (default: the release's six conditions).
        image_encoder: include `image_encoder` + `feature_extractor` (else they are `None`).
        image_embed_dim: width of the UNet's style token input (`None`: no style token).
        seed: seed of all random initialisations.
    """
    from diffusers import AutoencoderKL, DDIMScheduler
    from transformers import (
        CLIPImageProcessor,
        CLIPTextConfig,
        CLIPTextModel,
        CLIPVisionConfig,
        CLIPVisionModelWithProjection,
    )

    from pipelines.pipeline_videocomposer import ORIGINAL_SCHEDULER_CONFIG
    from videocomposer.models import STCEncoder, VideoComposerUNet3DModel

    tokenizer = build_tiny_tokenizer()
    torch.manual_seed(seed)
    unet = VideoComposerUNet3DModel(
        block_out_channels=(16, 32),
        down_block_types=("CrossAttnDownBlock3D", "DownBlock3D"),
        up_block_types=("UpBlock3D", "CrossAttnUpBlock3D"),
        layers_per_block=1,
        norm_num_groups=8,
        cross_attention_dim=TEXT_DIM,
        attention_head_dim=8,
        transformer_in_num_heads=2,
        image_embed_dim=image_embed_dim,
        dropout=0.0,
    )
    torch.manual_seed(seed + 1)
    stc_encoder = STCEncoder(
        condition_channels=conditions, hidden_channels=8, num_attention_heads=2, attention_head_dim=4, dropout=0.0
    )
    torch.manual_seed(seed + 2)
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(8, 8, 16, 16),
        layers_per_block=1,
        norm_num_groups=8,
        latent_channels=4,
        sample_size=32,
        scaling_factor=0.18215,
    )
    torch.manual_seed(seed + 3)
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=tokenizer.vocab_size,
            hidden_size=TEXT_DIM,
            intermediate_size=37,
            num_hidden_layers=2,
            num_attention_heads=4,
            max_position_embeddings=CONTEXT_LENGTH,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
    )
    components: dict[str, Any] = {
        "vae": vae,
        "text_encoder": text_encoder,
        "tokenizer": tokenizer,
        "unet": fill_zero_parameters(unet, seed),
        "stc_encoder": fill_zero_parameters(stc_encoder, seed),
        "scheduler": DDIMScheduler(**ORIGINAL_SCHEDULER_CONFIG),
        "image_encoder": None,
        "feature_extractor": None,
    }
    if image_encoder:
        torch.manual_seed(seed + 4)
        components["image_encoder"] = CLIPVisionModelWithProjection(
            CLIPVisionConfig(
                hidden_size=16,
                intermediate_size=24,
                projection_dim=image_embed_dim or IMAGE_EMBED_DIM,
                num_hidden_layers=2,
                num_attention_heads=2,
                image_size=32,
                patch_size=8,
            )
        )
        components["feature_extractor"] = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size=32)
    for component in components.values():
        if isinstance(component, torch.nn.Module):
            component.eval()
    return components


@pytest.fixture
def make_tiny_components() -> Callable[..., dict[str, Any]]:
    """The factory `build_tiny_components(conditions=None, image_encoder=True, image_embed_dim=16, seed=0)`."""
    return build_tiny_components


@pytest.fixture
def tiny_components() -> dict[str, Any]:
    """Fresh tiny components with every release condition and a style image encoder."""
    return build_tiny_components()


@pytest.fixture
def tiny_tokenizer():
    return build_tiny_tokenizer()


@pytest.fixture
def no_model_loading(monkeypatch):
    """`generate` fails the test if it loads a model: its inputs and options must be checked first."""
    from videocomposer.commands import generate

    def refuse(model):
        raise AssertionError("the model was loaded before the inputs and options were checked")

    monkeypatch.setattr(generate, "load_pipeline", refuse)
