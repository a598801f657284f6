"""The README.md (model card) written into a converted pipeline folder."""

from __future__ import annotations

from pathlib import Path

from pipelines.model_index import loading_instructions

_TEMPLATE = """---
license: other
license_name: research-non-commercial
library_name: diffusers
pipeline_tag: text-to-video
tags:
- video-generation
- videocomposer
---

# VideoComposer ({dtype}), diffusers format

VideoComposer (Wang et al., "VideoComposer: Compositional Video Synthesis with Motion Controllability",
arXiv:2306.02018) converted with `videocomposer convert` of the `videocomposer` package. The weights are the
original release's, renamed and reshaped only (the converter checks that every tensor is used exactly once).

## Source files

| component | converted from |
|---|---|
| `unet`, `stc_encoder` | `{unet}` (original `UNetSD_temporal` state dict) |
| `vae` | `first_stage_model.*` of `{sd}` (Stable Diffusion 2.1) |
| `text_encoder`, `image_encoder` | `{open_clip}` (OpenCLIP ViT-H-14, laion2b_s32b_b79k) |
| `tokenizer`, `feature_extractor` | open_clip's bundled BPE vocabulary and ViT-H-14 preprocessing |
| `scheduler` | the original's DDIM settings |

The release files come from ModelScope `damo/VideoComposer` (revision v1.0.0; mirrored on the Hugging Face Hub as
`camenduru/VideoComposer`): `non_ema_228000.pth`, `v2-1_512-ema-pruned.ckpt`, `open_clip_pytorch_model.bin`.

STC conditions of this checkpoint: {conditions}.

{loading}
## Licence

The VideoComposer weights were trained on WebVid-10M and LAION-400M and are released for **research and
non-commercial use only**; videos may show a stock-footage watermark. Third-party parts keep their own licences:
the SD 2.1 VAE (CreativeML Open RAIL++-M) and OpenCLIP ViT-H-14 (MIT). The conversion code is Apache-2.0 and the
original code MIT.
"""


def render_model_card(
    unet: str | Path, sd_checkpoint: str | Path, open_clip: str | Path, conditions: tuple[str, ...], dtype: str
) -> str:
    """The model card text for a folder converted from these files (only their names are written)."""
    return _TEMPLATE.format(
        unet=Path(unet).name,
        sd=Path(sd_checkpoint).name,
        open_clip=Path(open_clip).name,
        conditions=", ".join(conditions),
        dtype=dtype,
        loading=loading_instructions(dtype="float16" if dtype == "fp16" else None),
    )
