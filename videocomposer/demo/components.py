"""The demo model's architecture: a VideoComposer small enough to train on a laptop CPU from the synthetic data.

64x64 videos of 8 frames; an ``AutoencoderKL`` with 8x downsampling (8x8x4 latents, as Stable Diffusion's factor);
a word-level CLIP tokenizer over the caption vocabulary of :mod:`videocomposer.data.synthetic` with a small, randomly
initialised and frozen ``CLIPTextModel`` (distinct captions give distinct embeddings; the UNet's cross-attention
learns to read them); a two-level ``VideoComposerUNet3DModel`` (8x8 then 4x4, spatial and temporal attention at 4x4); an
``STCEncoder`` with the motion, sketch, depth, masked and local_image branches.
"""

from __future__ import annotations

import string
from typing import Any

from videocomposer.data.synthetic import _BACKGROUND_WORDS, COLORS, DIRECTIONS, PROCEDURAL_BACKGROUNDS, SHAPES

NUM_FRAMES = 8
RESOLUTION = 64
CONTEXT_LENGTH = 40
CONDITIONS: dict[str, int] = {"motion": 2, "sketch": 1, "depth": 1, "masked": 4, "local_image": 3}
# Canny thresholds of the sketch condition: lower than OpenCV's usual 100/200 so that the soft edges of the resized
# 96x96 condition frames still give the object's contour (and few background texture edges).
SKETCH_CANNY_THRESHOLDS = (50, 120)
#: Words of the synthetic captions besides colours, shapes, directions and backgrounds.
GRAMMAR_WORDS = ("a", "and", "on", "moving", "to", "the", "background", "growing", "shrinking")

VAE_CONFIG: dict[str, Any] = {
    "in_channels": 3,
    "out_channels": 3,
    "down_block_types": ("DownEncoderBlock2D",) * 4,
    "up_block_types": ("UpDecoderBlock2D",) * 4,
    "block_out_channels": (16, 32, 64, 64),
    "layers_per_block": 1,
    "norm_num_groups": 8,
    "latent_channels": 4,
    "sample_size": RESOLUTION,
}
TEXT_CONFIG: dict[str, Any] = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "max_position_embeddings": CONTEXT_LENGTH,
}
UNET_CONFIG: dict[str, Any] = {
    "sample_size": RESOLUTION // 8,
    "num_frames": NUM_FRAMES,
    "in_channels": 4,
    "condition_channels": 8,
    "out_channels": 4,
    "down_block_types": ("DownBlock3D", "CrossAttnDownBlock3D"),
    "up_block_types": ("CrossAttnUpBlock3D", "UpBlock3D"),
    "block_out_channels": (32, 64),
    "layers_per_block": 1,
    "norm_num_groups": 16,
    "cross_attention_dim": TEXT_CONFIG["hidden_size"],
    "attention_head_dim": 32,
    "transformer_in_num_heads": 2,
    "image_embed_dim": None,
    "dropout": 0.0,
}
STC_CONFIG: dict[str, Any] = {
    "condition_channels": CONDITIONS,
    "out_channels": 8,
    "hidden_channels": 8,
    "num_attention_heads": 2,
    "attention_head_dim": 8,
    "dropout": 0.0,
}


def caption_vocabulary() -> list[str]:
    """Every word the synthetic captions can use, in a fixed order. "photo" (photo backgrounds, added after the
    model's tokenizer was built) is left out: it is spelled in letters, which keeps the shipped text encoder valid."""
    words = [*GRAMMAR_WORDS, *COLORS, *SHAPES, *(_BACKGROUND_WORDS[b] for b in PROCEDURAL_BACKGROUNDS)]
    words += [part for direction in DIRECTIONS for part in direction.split()]
    return list(dict.fromkeys(words))


def build_tokenizer():
    """A CLIP BPE tokenizer whose merges spell every caption word as one token (other text falls back to letters).

    Words are added in turn: BPE with the merges so far gives some pieces, and new merges (of lower priority than
    all earlier ones, so earlier words keep their single token) join those pieces left to right.
    """
    from tokenizers.models import BPE
    from transformers import CLIPTokenizer

    letters = list(string.ascii_lowercase)
    vocab = {symbol: i for i, symbol in enumerate(letters + [f"{c}</w>" for c in letters])}
    ranks: dict[tuple[str, str], int] = {}
    for word in caption_vocabulary():
        pieces = [token.value for token in BPE(vocab, list(ranks), end_of_word_suffix="</w>").tokenize(word)]
        while len(pieces) > 1:
            ranks.setdefault((pieces[0], pieces[1]), len(ranks))
            pieces = [pieces[0] + pieces[1]] + pieces[2:]
            vocab.setdefault(pieces[0], len(vocab))
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=list(ranks), model_max_length=CONTEXT_LENGTH)


def build_text_encoder(tokenizer, seed: int = 0):
    """The randomly initialised text encoder (frozen during training)."""
    import torch
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(seed)
    config = CLIPTextConfig(
        vocab_size=tokenizer.vocab_size,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        **TEXT_CONFIG,
    )
    return CLIPTextModel(config).eval()


def build_vae(seed: int = 0):
    import torch
    from diffusers import AutoencoderKL

    torch.manual_seed(seed)
    return AutoencoderKL(**VAE_CONFIG)


def build_unet(seed: int = 0):
    import torch

    from videocomposer.models import VideoComposerUNet3DModel

    torch.manual_seed(seed)
    return VideoComposerUNet3DModel(**UNET_CONFIG)


def build_stc_encoder(seed: int = 0):
    import torch

    from videocomposer.models import STCEncoder

    torch.manual_seed(seed)
    return STCEncoder(**STC_CONFIG)
