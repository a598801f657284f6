"""CLIP metrics (A. Radford et al., "Learning Transferable Visual Models From Natural Language Supervision", 2021).

- :func:`clip_frame_consistency` (VideoComposer, Wang et al. 2023): mean cosine of consecutive frames' embeddings;
  the paper uses open_clip ViT-H-14 (``open_clip:ViT-H-14:/path/open_clip_pytorch_model.bin``).
- :func:`clip_text_similarity`: the raw mean cosine between frames and prompt, in [-1, 1].
- :func:`clipsim`: CLIPSIM in its MSR-VTT form (C. Wu et al., GODIVA 2021; Make-A-Video, Phenaki): per frame
  ``100 * max(0, cos)`` (torchmetrics' CLIPScore per image), averaged over frames; comparable with published numbers
  only with OpenAI's ViT-B/32 weights (a transformers ``openai/clip-vit-base-patch32`` folder given by path).

Frames go through CLIP's own preprocessing: bicubic resize of the short side to the model's input size, centre crop,
normalisation with the OpenAI CLIP statistics (``image_batch(..., crop=True)``); any transformers ``CLIPModel``
folder or hub id works too.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np

from .consistency import consecutive_similarity
from .video import image_batch, model_device

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


class ClipEncoder:
    """Image and text embeddings of a CLIP model behind two callables.

    Args:
        image_features: normalised pixels ``(N, 3, S, S)`` -> ``(N, D)`` embeddings.
        text_features: list of strings -> ``(N, D)`` embeddings (same space).
        image_size: ``S``, the model's input side.
        batch_size: frames per forward pass.
    """

    def __init__(
        self,
        image_features: Callable,
        text_features: Callable,
        image_size: int,
        mean: tuple[float, ...] = CLIP_MEAN,
        std: tuple[float, ...] = CLIP_STD,
        batch_size: int = 32,
    ):
        if image_size < 1 or batch_size < 1:
            raise ValueError(f"image_size and batch_size must be positive, got {image_size}, {batch_size}")
        self.image_features, self.text_features = image_features, text_features
        self.image_size, self.mean, self.std, self.batch_size = image_size, mean, std, batch_size

    @classmethod
    def from_transformers(cls, model, tokenizer, **kwargs) -> ClipEncoder:
        """From a ``transformers.CLIPModel`` and its tokenizer (projections of the pooled outputs)."""
        device = model_device(model)

        def images(pixels):
            return model.visual_projection(model.vision_model(pixel_values=pixels.to(device)).pooler_output)

        def texts(strings):
            tokens = tokenizer(strings, padding=True, truncation=True, return_tensors="pt").to(device)
            pooled = model.text_model(input_ids=tokens.input_ids, attention_mask=tokens.attention_mask).pooler_output
            return model.text_projection(pooled)

        return cls(images, texts, model.config.vision_config.image_size, **kwargs)

    @classmethod
    def load(cls, spec: str, device: str = "cpu") -> ClipEncoder:
        """``open_clip:ARCH:WEIGHTS_FILE`` (a local open_clip checkpoint) or a transformers folder / hub id (a hub id
        is fetched by transformers as usual, or read from its cache)."""
        import torch

        if spec.startswith("open_clip:"):
            import open_clip

            _, arch, pretrained = (spec.split(":", 2) + [""])[:3]
            if not arch or not pretrained:
                raise ValueError(f"clip model: expected open_clip:ARCH:WEIGHTS_FILE, got {spec!r}")
            if not os.path.isfile(pretrained):
                raise FileNotFoundError(f"clip model {spec!r}: no such weights file: {pretrained}")
            model, _, _ = open_clip.create_model_and_transforms(arch, pretrained=pretrained, device=device)
            tokenizer = open_clip.get_tokenizer(arch)
            size = model.visual.image_size
            size = size[0] if isinstance(size, (tuple, list)) else size
            model.eval()
            return cls(
                lambda pixels: model.encode_image(pixels.to(device)),
                lambda strings: model.encode_text(tokenizer(strings).to(device)),
                int(size),
            )
        from transformers import AutoTokenizer, CLIPModel

        model = CLIPModel.from_pretrained(spec, torch_dtype=torch.float32).to(device).eval()
        return cls.from_transformers(model, AutoTokenizer.from_pretrained(spec))

    def encode_frames(self, frames: np.ndarray) -> np.ndarray:
        """``(F, H, W, 3)`` frames -> ``(F, D)`` float64 embeddings."""
        import torch

        pixels = image_batch(frames, self.image_size, self.mean, self.std, crop=True)
        with torch.no_grad():
            parts = [self.image_features(chunk) for chunk in pixels.split(self.batch_size)]
        return torch.cat(parts).double().cpu().numpy()

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        """Strings -> ``(N, D)`` float64 embeddings."""
        import torch

        if isinstance(texts, str) or not texts or not all(isinstance(t, str) for t in texts):
            raise TypeError(f"texts: expected a non-empty list of strings, got {texts!r}")
        with torch.no_grad():
            return self.text_features(list(texts)).double().cpu().numpy()


def clip_frame_consistency(frames: np.ndarray, encoder: ClipEncoder) -> float:
    """Mean CLIP cosine similarity of consecutive frames (1 for a still video)."""
    return consecutive_similarity(encoder.encode_frames(frames))


def _frame_text_cosines(frames: np.ndarray, prompt: str, encoder: ClipEncoder) -> np.ndarray:
    if not isinstance(prompt, str) or not prompt.strip():
        raise ValueError(f"prompt: expected a non-empty string, got {prompt!r}")
    images = encoder.encode_frames(frames)
    text = encoder.encode_texts([prompt])[0]
    images = images / np.linalg.norm(images, axis=1, keepdims=True)
    return images @ (text / np.linalg.norm(text))


def clip_text_similarity(frames: np.ndarray, prompt: str, encoder: ClipEncoder) -> float:
    """Mean over frames of the CLIP cosine similarity between the frame and ``prompt`` (raw, in [-1, 1])."""
    return float(_frame_text_cosines(frames, prompt, encoder).mean())


def clipsim(frames: np.ndarray, prompt: str, encoder: ClipEncoder) -> float:
    """CLIPSIM, MSR-VTT form: mean over frames of ``100 * max(0, cos(frame, prompt))`` (0-100)."""
    return float((100.0 * np.maximum(0.0, _frame_text_cosines(frames, prompt, encoder))).mean())
