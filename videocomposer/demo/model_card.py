"""The demo model's card (README.md of the pipeline folder), rewritten at every checkpoint."""

from __future__ import annotations

from pathlib import Path

from pipelines.model_index import loading_instructions

from .components import CONDITIONS, NUM_FRAMES, RESOLUTION, UNET_CONFIG

#: The card's loading section; the copy installed with the package is `videocomposer.demo.DEMO_MODEL_DIR`.
DEMO_LOADING = (
    loading_instructions("path/to/videocomposer-demo")
    + "\nThe copy installed with the package is `videocomposer.demo.DEMO_MODEL_DIR`.\n"
)


def write_model_card(
    path: str | Path,
    command: str,
    steps: int,
    loss: float,
    num_clips: int,
    train_minutes: float,
    total_minutes: float,
    vae: str,
    earlier: str | None,
    conditions: tuple[str, ...],
    batch_size: int,
    learning_rate: float,
) -> None:
    """Write the card to ``path``: what the model is, how it was trained (command, time, final loss), its limits.

    ``vae`` says how the VAE was fitted (e.g. its final reconstruction error); ``earlier`` how the weights this run
    started from were trained (``None``: from scratch); ``conditions`` are the STC conditions this run fed.
    """
    text = f"""# videocomposer-demo

A small VideoComposer ({RESOLUTION}x{RESOLUTION}, {NUM_FRAMES} frames) trained by this project on CPU from its own
synthetic moving-shapes clips (`videocomposer.data.synthetic`, one object per clip, training seeds 0..{num_clips - 1}).
It exists so that the demo, the tests and the README's examples run offline; it is not a general video model:
real clips, and inpainting of real content, need the converted release (README, "Converting the released weights").

| component | what |
|---|---|
| vae | `AutoencoderKL`, 8x downsampling, 4 latent channels, fitted on the training frames: {vae} |
| text_encoder + tokenizer | 2-layer, 64-wide `CLIPTextModel`, random and frozen; word-level BPE over the caption vocabulary |
| unet | `VideoComposerUNet3DModel`, block_out_channels {UNET_CONFIG["block_out_channels"]}, attention at the 4x4 level |
| stc_encoder | `STCEncoder` with {", ".join(CONDITIONS)} |
| scheduler | `DDIMScheduler` with the original's settings |

Conditions it was trained with: codec motion vectors (`MotionVectorExtractor`), Canny edges as the sketch (PiDiNet
weights are not available offline), the generator's z-order depth on the canonical scale (near object 10, background
0), random inpainting masks (`MaskGenerator`) and the first frame as the local image.

## Training

- Command (the last run): `{command}`
- Started from: {earlier or "random initialisation"}.
- STC conditions fed in the last run: {", ".join(conditions)}.
- Stage: compositional only (the condition dropout's all-drop samples are the text-to-video case); the t2v stage was
  skipped to fit the CPU budget.
- Loop: `videocomposer.demo.train_demo` (the project's eps-prediction loss and condition dropout; VAE latents and text
  embeddings computed once; EMA of the weights), not `videocomposer.train`, which re-encodes every batch.
- {steps} steps of batch {batch_size}, AdamW lr {learning_rate}, {train_minutes:.1f} min of UNet + STC training,
  {total_minutes:.1f} min in all on a shared 2-core CPU.
- Final training loss (mean of the last 100 steps): {loss:.4f}.

Under-trained by design of the budget: expect blurry shapes and coarse control. Measured control fidelity is in
`benchmarks/RESULTS.md` ("bench_control").

{DEMO_LOADING}"""
    Path(path).write_text(text, encoding="utf-8")
