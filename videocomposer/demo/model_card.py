"""The demo model's card (README.md of the pipeline folder), rewritten at every checkpoint."""

from __future__ import annotations

from argparse import Namespace
from pathlib import Path

from pipelines.model_index import loading_instructions
from videocomposer.atomic_files import atomic_write_text

from .components import CONDITIONS, NUM_FRAMES, RESOLUTION, UNET_CONFIG


def write_model_card(path: str | Path, args: Namespace, state: dict, command: str, earlier: str) -> None:
    """Write the card to ``path``: what the model is, how it was trained (command, time, final loss), its limits.

    ``args``: the build's options (:func:`videocomposer.demo.build.build_parser`); ``state``: its ``steps``,
    ``minutes`` and ``loss`` over every resumed invocation; ``earlier`` says what the run started from.
    """
    loss_text = "n/a" if state["loss"] is None else f"{state['loss']:.4f}"
    text = f"""# videocomposer-demo

A small VideoComposer ({RESOLUTION}x{RESOLUTION}, {NUM_FRAMES} frames) trained by this project on CPU from its own
synthetic moving-shapes clips (`videocomposer.data.synthetic`, one object per clip, training seeds 0..{args.train_clips - 1},
a third of them over muted crops of scikit-image's sample photos, {args.window_clip_prob:.0%} of them 8-frame windows of clips
rendered at 16, 32 or 64 frames, whose objects move as slowly as in one window of a long video). It exists so that the demo, the tests and the
README's examples run offline; it is not a general video model:
real clips, and inpainting of real content, need the converted release (README, "Converting the released weights").

| component | what |
|---|---|
| vae | `AutoencoderKL`, 8x downsampling, 4 latent channels, fitted on the training frames |
| text_encoder + tokenizer | 2-layer, 64-wide `CLIPTextModel`, random and frozen; word-level BPE over the caption vocabulary |
| unet | `VideoComposerUNet3DModel`, block_out_channels {UNET_CONFIG["block_out_channels"]}, attention at the 4x4 level |
| stc_encoder | `STCEncoder` with {", ".join(CONDITIONS)} |
| scheduler | `DDIMScheduler` with the original's settings |

Conditions it was trained with (all of them in every step, each dropped per sample: {" ".join(args.condition_dropout_overrides)}, others {args.condition_dropout_prob}): motion vectors, for
{args.stroke_motion_prob:.0%} of the clips the object's path rendered as the app renders a stroke and otherwise codec motion
vectors (`MotionVectorExtractor`); Canny edges as the sketch (PiDiNet weights are not available offline); the
generator's z-order depth on the canonical scale (near object 10, background 0); random inpainting masks
(`MaskGenerator`); the first frame as the single image.

## Training

- Command: `{command}` (rerun it to resume: it continues from the newest checkpoint in its work folder).
- Started from: {earlier}.
- Loop: `videocomposer.train` (compositional stage, EMA of the weights), fed by the condition cache the build writes.
- {state["steps"]} steps of batch {args.batch_size}, AdamW lr {args.learning_rate}, {state["minutes"]:.1f} min of UNet + STC training
  on a shared 2-core CPU.
- Final training loss (mean of the last 100 steps): {loss_text}.

Under-trained by design of the budget: expect blurry shapes and coarse control. Measured control fidelity is in
`benchmarks/RESULTS.md` ("bench_control").

{loading_instructions("path/to/videocomposer-demo")}
The copy installed with the package is `videocomposer.demo.DEMO_MODEL_DIR`.
"""
    atomic_write_text(path, text)
