"""VideoComposerPipeline: text-to-video with any combination of VideoComposer's spatio-temporal conditions."""

import inspect
import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import PIL.Image
import torch
from diffusers import AutoencoderKL, DiffusionPipeline, StableDiffusionMixin
from diffusers.schedulers import KarrasDiffusionSchedulers
from diffusers.utils import logging, replace_example_docstring
from diffusers.utils.torch_utils import randn_tensor
from diffusers.video_processor import VideoProcessor
from transformers import CLIPImageProcessor, CLIPTextModel, CLIPTokenizer, CLIPVisionModelWithProjection

from videocomposer.atomic_files import umask_modes
from videocomposer.conditions import ConditionInput, ConditionProcessor, video_size
from videocomposer.models.stc_encoder import STCEncoder
from videocomposer.models.unet_3d import VideoComposerUNet3DModel

from .inpainting import per_frame, prepare_latent_blend
from .long_video import LongVideoMixin, split_prompt_segments
from .long_video_noise import long_video_noise
from .model_index import PIPELINE_CLASS_NAME, write_loadable_model_index
from .pipeline_output import VideoComposerPipelineOutput

logger = logging.get_logger(__name__)

# The original sampler (artist/ops/diffusion.py, inference_single.py): 1000 scaled-linear betas 0.00085 -> 0.012, eps
# prediction, DDIM timesteps 981, 961, ..., 1 ("leading" spacing + offset 1), the last step's alpha_prev is
# alphas_cumprod[0] (set_alpha_to_one=False), no x0 clipping. Use as `DDIMScheduler(**ORIGINAL_SCHEDULER_CONFIG)`.
ORIGINAL_SCHEDULER_CONFIG: dict[str, Any] = {
    "num_train_timesteps": 1000,
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "prediction_type": "epsilon",
    "timestep_spacing": "leading",
    "steps_offset": 1,
    "set_alpha_to_one": False,
    "clip_sample": False,
}

EXAMPLE_DOC_STRING = """
    Examples:
        ```py
        >>> import torch
        >>> from diffusers.utils import export_to_video
        >>> from videocomposer import VideoComposerPipeline
        >>> from condition_extractors import extract_conditions

        >>> pipe = VideoComposerPipeline.from_pretrained("path/to/videocomposer-diffusers")
        >>> conditions = extract_conditions("source.mp4", ["motion", "depth"])  # motion_vectors=..., depth=...
        >>> frames = pipe("a red car driving through snow", **conditions, generator=torch.manual_seed(0)).frames[0]
        >>> export_to_video(frames, "car.mp4", fps=8)
        ```
"""


def _check_guidance_scale(value: float, name: str) -> None:
    """A finite number, else `ValueError` (NaN would silently switch guidance off)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"`{name}` has to be a finite number, got {value!r}.")


def scheduler_step_limit(scheduler) -> int:
    """The most denoising steps ``scheduler`` takes: one per training timestep, less its offset (DDIM's
    ``steps_offset=1`` puts a 1000th step on timestep 1000, past the last one, 999)."""
    config = scheduler.config
    return config.num_train_timesteps - int(config.get("steps_offset", 0) or 0)


class VideoComposerPipeline(LongVideoMixin, StableDiffusionMixin, DiffusionPipeline):
    r"""
    Text-to-video generation steered by any combination of VideoComposer conditions (motion vectors, depth, sketch,
    single sketch, masked video, single image) and an optional style image (arXiv 2306.02018).

    The STC encoder turns the given conditions into an 8-channel latent once, before the denoising loop; the UNet gets
    it concatenated to its input at every step. Classifier-free guidance follows the original: both branches share all
    STC conditions; the unconditional branch uses the empty-prompt (or negative-prompt) embedding and a zero style
    embedding (which the UNet's image MLP maps to MLP(0)).

    Args:
        vae ([`AutoencoderKL`]): Frame VAE (the SD 2.1 VAE, scaling factor 0.18215).
        text_encoder ([`CLIPTextModel`]): Text encoder (OpenCLIP ViT-H-14 penultimate layer + final LN).
        tokenizer ([`CLIPTokenizer`]): Tokenizer of `text_encoder`.
        unet ([`VideoComposerUNet3DModel`]): Denoising 3D UNet.
        stc_encoder ([`STCEncoder`]): Spatio-temporal condition encoder.
        scheduler ([`KarrasDiffusionSchedulers`]): DDIM configured as `ORIGINAL_SCHEDULER_CONFIG` reproduces the
            original; DPM-Solver++ or Euler with the same config also work.
        image_encoder ([`CLIPVisionModelWithProjection`], *optional*): Encodes `style_image` (OpenCLIP ViT-H-14).
        feature_extractor ([`CLIPImageProcessor`], *optional*): Prepares `style_image` for `image_encoder`.
        default_guidance_scale (`float`, defaults to 9.0, the original's): The `guidance_scale` a call uses when it
            gives none: the model's recommended guidance, saved in `model_index.json`.
    """

    model_cpu_offload_seq = "text_encoder->image_encoder->stc_encoder->unet->vae"
    _optional_components = ["image_encoder", "feature_extractor"]
    _callback_tensor_inputs = ["latents", "prompt_embeds", "negative_prompt_embeds"]

    def __init__(
        self,
        vae: AutoencoderKL,
        text_encoder: CLIPTextModel,
        tokenizer: CLIPTokenizer,
        unet: VideoComposerUNet3DModel,
        stc_encoder: STCEncoder,
        scheduler: KarrasDiffusionSchedulers,
        image_encoder: CLIPVisionModelWithProjection | None = None,
        feature_extractor: CLIPImageProcessor | None = None,
        default_guidance_scale: float = 9.0,
    ):
        super().__init__()
        _check_guidance_scale(default_guidance_scale, "default_guidance_scale")
        self.register_to_config(default_guidance_scale=default_guidance_scale)
        self.register_modules(
            vae=vae,
            text_encoder=text_encoder,
            tokenizer=tokenizer,
            unet=unet,
            stc_encoder=stc_encoder,
            scheduler=scheduler,
            image_encoder=image_encoder,
            feature_extractor=feature_extractor,
        )
        self.vae_scale_factor = 2 ** (len(self.vae.config.block_out_channels) - 1) if getattr(self, "vae", None) else 8
        self.video_processor = VideoProcessor(do_resize=False, vae_scale_factor=self.vae_scale_factor)
        self._unknown_words_warned: set[str] = set()

    def save_pretrained(
        self, save_directory: str | os.PathLike, *args: Any, push_to_hub: bool = False, **kwargs: Any
    ) -> None:
        r"""
        [`~DiffusionPipeline.save_pretrained`], plus a `model_index.json` naming `["pipeline_videocomposer",
        "VideoComposerPipeline"]` and a `pipeline_videocomposer.py` importing the installed class, so that
        `DiffusionPipeline.from_pretrained(folder, trust_remote_code=True)` loads the folder too. `push_to_hub=True`
        uploads the completed folder (`repo_id`, `token`, `private`, `commit_message`, `create_pr` as in diffusers),
        keeping a `README.md` already there as the model card.
        """
        hub_keys = ("repo_id", "token", "private", "commit_message", "create_pr")
        hub = {key: kwargs.pop(key) for key in hub_keys if key in kwargs}
        with umask_modes(save_directory):  # diffusers writes safetensors through 0600 temporary files
            super().save_pretrained(save_directory, *args, **kwargs)
            write_loadable_model_index(Path(save_directory))
        if push_to_hub:
            from huggingface_hub import create_repo

            repo_id = hub.get("repo_id", Path(save_directory).name)
            repo_id = create_repo(repo_id, exist_ok=True, private=hub.get("private"), token=hub.get("token")).repo_id
            self._upload_folder(
                str(save_directory), repo_id, token=hub.get("token"), commit_message=hub.get("commit_message"),
                create_pr=hub.get("create_pr", False),
            )  # fmt: skip

    @classmethod
    def _dict_from_json_file(cls, json_file: str | os.PathLike) -> dict[str, Any]:
        # Loading through this class itself: the folder's pipeline file only re-exports this class, so read
        # `_class_name` as this class instead of going through diffusers' remote-code path.
        config = super()._dict_from_json_file(json_file)
        if list(config.get("_class_name") or ()) == list(PIPELINE_CLASS_NAME):
            config["_class_name"] = PIPELINE_CLASS_NAME[1]
        return config

    def enable_vae_slicing(self) -> None:
        """Decodes the video's frames one at a time (`vae.enable_slicing()`): less memory, same frames."""
        self.vae.enable_slicing()

    def disable_vae_slicing(self) -> None:
        """Decodes all frames of a chunk in one VAE call again."""
        self.vae.disable_slicing()

    def enable_vae_tiling(self) -> None:
        """Decodes each frame in overlapping tiles (`vae.enable_tiling()`), for frames larger than the VAE's tile."""
        self.vae.enable_tiling()

    def disable_vae_tiling(self) -> None:
        """Decodes each frame in one piece again."""
        self.vae.disable_tiling()

    @property
    def guidance_scale(self) -> float:
        return self._guidance_scale

    @property
    def do_classifier_free_guidance(self) -> bool:
        return self._guidance_scale > 1.0

    @property
    def num_timesteps(self) -> int:
        return self._num_timesteps

    @property
    def interrupt(self) -> bool:
        return self._interrupt

    def _encode_text(self, text: list[str], device: torch.device) -> torch.Tensor:
        self._warn_unknown_tokens(text)
        max_length = self.tokenizer.model_max_length
        ids = self.tokenizer(text, padding="max_length", max_length=max_length, truncation=True, return_tensors="pt")
        truncated = [t for t, n in zip(text, map(len, self.tokenizer(text).input_ids), strict=True) if n > max_length]
        if truncated:
            shown = [t if len(t) <= 200 else f"{t[:200]}... ({len(t)} characters)" for t in truncated[:3]]
            logger.warning(f"{len(truncated)} prompt(s) longer than {max_length} tokens were truncated: {shown}")
        return self.text_encoder(ids.input_ids.to(device))[0]

    def encode_prompt(
        self,
        prompt: str | list[str] | None,
        device: torch.device,
        num_videos_per_prompt: int,
        do_classifier_free_guidance: bool,
        negative_prompt: str | list[str] | None = None,
        prompt_embeds: torch.Tensor | None = None,
        negative_prompt_embeds: torch.Tensor | None = None,
        dtype: torch.dtype | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        r"""
        Encodes the prompt and, for guidance, the negative prompt (`""` when not given, as the original's `zero_y`).

        Returns:
            `(prompt_embeds, negative_prompt_embeds)`, each `(B * num_videos_per_prompt, L, D)` in `dtype` (default:
            the text encoder's); the second is `None` without classifier-free guidance.
        """
        prompts = [] if prompt_embeds is not None else [prompt] if isinstance(prompt, str) else list(prompt)
        batch_size = len(prompts) if prompt_embeds is None else prompt_embeds.shape[0]
        negatives = []
        if do_classifier_free_guidance and negative_prompt_embeds is None:
            negative = "" if negative_prompt is None else negative_prompt
            negatives = [negative] * batch_size if isinstance(negative, str) else list(negative)
        if prompts or negatives:  # prompts and negative prompts in one text-encoder call
            encoded = self._encode_text(prompts + negatives, device)
            if prompts:
                prompt_embeds = encoded[:batch_size]
            if negatives:
                negative_prompt_embeds = encoded[len(prompts) :]
        dtype = dtype or self.text_encoder.dtype
        # diffusers' test mixin reads the names of this return statement: they are `__call__`'s parameters.
        prompt_embeds = prompt_embeds.to(device=device, dtype=dtype).repeat_interleave(num_videos_per_prompt, 0)
        if negative_prompt_embeds is not None:
            negative_prompt_embeds = negative_prompt_embeds.to(device=device, dtype=dtype)
            negative_prompt_embeds = negative_prompt_embeds.repeat_interleave(num_videos_per_prompt, 0)
        return prompt_embeds, negative_prompt_embeds

    def encode_image(self, style_image: PIL.Image.Image | list[PIL.Image.Image], device: torch.device) -> torch.Tensor:
        r"""Pooled, projected CLIP image embeddings `(N, D)` of the style image(s)."""
        pixel_values = self.feature_extractor(images=style_image, return_tensors="pt").pixel_values
        pixel_values = pixel_values.to(device=device, dtype=self.image_encoder.dtype)
        return self.image_encoder(pixel_values).image_embeds

    @property
    def condition_processor(self) -> ConditionProcessor:
        """Condition inputs -> STC encoder inputs, for this pipeline's `stc_encoder`."""
        return ConditionProcessor(self.stc_encoder.config.condition_channels)

    def _warn_unknown_tokens(self, prompts: list[str]) -> None:
        """Warns once per word about words the tokenizer maps (in part) to its unknown token."""
        unk = self.tokenizer.unk_token_id
        if unk is None:
            return
        warned = self._unknown_words_warned
        words = dict.fromkeys(word for prompt in prompts for word in prompt.split())
        unknown = [
            w for w in words if w not in warned and unk in self.tokenizer(w, add_special_tokens=False).input_ids
        ]
        if unknown:
            warned.update(unknown)
            logger.warning(
                f"The tokenizer maps these prompt words (in part) to its unknown token, so the model does not see "
                f"them: {unknown}."
            )

    condition_to_tensor = staticmethod(ConditionProcessor.to_tensor)

    def check_inputs(
        self,
        *,
        prompt: str | list[str] | None,
        negative_prompt: str | list[str] | None = None,
        conditions: dict[str, torch.Tensor] | None = None,
        style_image: Any = None,
        num_frames: int,
        height: int,
        width: int,
        num_inference_steps: int = 50,
        guidance_scale: float = 9.0,
        num_videos_per_prompt: int = 1,
        condition_scale: float | dict[str, float] = 1.0,
        generator: torch.Generator | list[torch.Generator] | None = None,
        latents: torch.Tensor | None = None,
        prompt_embeds: torch.Tensor | None = None,
        negative_prompt_embeds: torch.Tensor | None = None,
        image_embeds: torch.Tensor | None = None,
        output_type: str = "np",
        callback_on_step_end_tensor_inputs: Sequence[str] = ("latents",),
        decode_chunk_size: int | None = None,
    ) -> None:
        r"""Raises `ValueError` / `TypeError` naming the argument for any bad input; runs no model. The conditions
        (tensors from [`~VideoComposerPipeline.condition_to_tensor`]) are checked by the condition processor."""
        if height % self.vae_scale_factor != 0 or width % self.vae_scale_factor != 0:
            raise ValueError(
                f"`height` and `width` have to be divisible by {self.vae_scale_factor} but are {height} and {width}."
            )
        chunk = 1 if decode_chunk_size is None else decode_chunk_size
        for name, value in (("num_frames", num_frames), ("num_inference_steps", num_inference_steps),
                            ("num_videos_per_prompt", num_videos_per_prompt),
                            ("decode_chunk_size", chunk)):  # fmt: skip
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"`{name}` has to be a positive integer, got {value!r}.")
        step_limit = scheduler_step_limit(self.scheduler)
        if num_inference_steps > step_limit:
            raise ValueError(
                f"`num_inference_steps` has to be at most {step_limit} for this scheduler (one step per "
                f"training timestep, less its offset), got {num_inference_steps}."
            )
        _check_guidance_scale(guidance_scale, "guidance_scale")
        if output_type not in ("np", "pt", "pil", "latent"):
            raise ValueError(f"`output_type` has to be one of 'np', 'pt', 'pil', 'latent', got {output_type!r}.")
        unknown = [k for k in callback_on_step_end_tensor_inputs if k not in self._callback_tensor_inputs]
        if unknown:
            raise ValueError(
                f"`callback_on_step_end_tensor_inputs` has to be in {self._callback_tensor_inputs}, "
                f"but found {unknown}."
            )

        # prompts and text embeddings
        if prompt is not None and prompt_embeds is not None:
            raise ValueError("Cannot forward both `prompt` and `prompt_embeds`; give only one of them.")
        if prompt is None and prompt_embeds is None:
            raise ValueError("Provide either `prompt` or `prompt_embeds`.")
        if (style_image is not None or image_embeds is not None) and self.unet.config.image_embed_dim is None:
            raise ValueError("`style_image` / `image_embeds` need a unet built with `image_embed_dim`.")
        strings = isinstance(prompt, list) and prompt and all(isinstance(p, str) for p in prompt)
        if prompt is not None and not (isinstance(prompt, str) or strings):
            raise TypeError(
                f"`prompt` has to be a string or a non-empty list of strings, got {type(prompt).__name__}."
            )
        batch_size = 1 if isinstance(prompt, str) else len(prompt) if prompt is not None else prompt_embeds.shape[0]
        embed_width = self.unet.config.cross_attention_dim
        for name, embeds, width_ in (("prompt_embeds", prompt_embeds, embed_width),
                                     ("negative_prompt_embeds", negative_prompt_embeds, embed_width),
                                     ("image_embeds", image_embeds, self.unet.config.image_embed_dim)):  # fmt: skip
            if embeds is None:
                continue
            expected = f"(B, L, {width_})" if name != "image_embeds" else f"(1 or {batch_size}, {width_})"
            ndim = 3 if name != "image_embeds" else 2
            if (
                not isinstance(embeds, torch.Tensor)
                or embeds.ndim != ndim
                or embeds.shape[-1] != width_
                or (ndim == 2 and embeds.shape[0] not in (1, batch_size))
            ):
                shape = tuple(embeds.shape) if isinstance(embeds, torch.Tensor) else type(embeds).__name__
                raise ValueError(f"`{name}` has to be a tensor {expected}, got {shape}.")
            if not torch.isfinite(embeds).all():
                raise ValueError(f"`{name}` contains NaN or inf.")
        if negative_prompt_embeds is not None:
            if prompt_embeds is None or negative_prompt_embeds.shape != prompt_embeds.shape:
                raise ValueError(
                    "`negative_prompt_embeds` has to be given with `prompt_embeds` and have its shape, got "
                    f"{tuple(negative_prompt_embeds.shape)} and "
                    f"{None if prompt_embeds is None else tuple(prompt_embeds.shape)}."
                )
            if negative_prompt is not None:
                raise ValueError("Cannot forward both `negative_prompt` and `negative_prompt_embeds`.")
        if isinstance(negative_prompt, list):
            if len(negative_prompt) != batch_size or not all(isinstance(p, str) for p in negative_prompt):
                raise ValueError(f"`negative_prompt` as a list has to hold {batch_size} strings (one per prompt), "
                                 f"got {negative_prompt!r}.")  # fmt: skip
        elif negative_prompt is not None and not isinstance(negative_prompt, str):
            raise TypeError(
                f"`negative_prompt` has to be a string or a list of strings, got {type(negative_prompt).__name__}."
            )

        # style
        if style_image is not None:
            if image_embeds is not None:
                raise ValueError("Cannot forward both `style_image` and `image_embeds`; give only one of them.")
            if self.image_encoder is None or self.feature_extractor is None:
                raise ValueError("`style_image` needs the pipeline's `image_encoder` and `feature_extractor`.")
            images = [style_image] if isinstance(style_image, PIL.Image.Image) else style_image
            if not isinstance(images, list) or not all(isinstance(i, PIL.Image.Image) for i in images):
                raise TypeError(
                    f"`style_image` has to be a PIL image or a list of them, got {type(style_image).__name__}."
                )
            if len(images) not in (1, batch_size):
                raise ValueError(f"`style_image` has to hold 1 or {batch_size} images, got {len(images)}.")

        # conditions
        self.condition_processor.check(
            conditions or {}, num_frames=num_frames, height=height, width=width, batch_size=batch_size
        )
        names = list(self.stc_encoder.conditions)
        if isinstance(condition_scale, dict):
            if any(k not in names for k in condition_scale) or not all(
                isinstance(v, (int, float)) for v in condition_scale.values()
            ):
                raise ValueError(f"`condition_scale` as a dict maps STC condition names {names} to floats, got "
                                 f"{condition_scale!r}.")  # fmt: skip
        elif not isinstance(condition_scale, (int, float)):
            raise TypeError(f"`condition_scale` has to be a float or a dict, got {type(condition_scale).__name__}.")

        # noise
        total = batch_size * num_videos_per_prompt
        generators = generator if isinstance(generator, list) else [generator]
        if not all(g is None or isinstance(g, torch.Generator) for g in generators):
            raise TypeError(f"`generator` has to be a torch.Generator or a list of them, got {generator!r} (seed "
                            "one with torch.Generator().manual_seed(seed)).")  # fmt: skip
        if isinstance(generator, list) and len(generator) != total:
            raise ValueError(
                f"`generator` as a list has to hold {total} generators (one per video), got {len(generator)}."
            )
        if latents is not None:
            latent_size = (height // self.vae_scale_factor, width // self.vae_scale_factor)
            shape = (total, self.unet.config.in_channels, num_frames, *latent_size)
            if not isinstance(latents, torch.Tensor) or tuple(latents.shape) != shape:
                got = tuple(latents.shape) if isinstance(latents, torch.Tensor) else type(latents).__name__
                raise ValueError(f"`latents` has to have shape {shape}, got {got}.")
            if not torch.isfinite(latents).all():
                raise ValueError("`latents` contains NaN or inf.")

    def prepare_conditions(
        self,
        conditions: dict[str, torch.Tensor],
        batch_size: int,
        device: torch.device,
    ) -> dict[str, torch.Tensor]:
        r"""Checked condition inputs -> the STC encoder's inputs (see `videocomposer.conditions`), broadcast to
        `batch_size`, on the encoder's device and dtype."""
        return self.condition_processor.to_stc(conditions, batch_size, device, self.stc_encoder.dtype)

    def _guidance_batch(
        self,
        latents: torch.Tensor,
        prompt_embeds: torch.Tensor,
        negative_prompt_embeds: torch.Tensor | None,
        condition_latents: torch.Tensor | None,
        image_embeds: torch.Tensor | None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        r"""One step's UNet inputs: as given, or with guidance the unconditional half (class docstring) first."""
        if not self.do_classifier_free_guidance:
            return latents, prompt_embeds, condition_latents, image_embeds
        if negative_prompt_embeds is None or negative_prompt_embeds.shape != prompt_embeds.shape:
            got = None if negative_prompt_embeds is None else tuple(negative_prompt_embeds.shape)
            raise ValueError(
                f"guidance_scale {self.guidance_scale} needs `negative_prompt_embeds` shaped as `prompt_embeds` "
                f"{tuple(prompt_embeds.shape)}, got {got} (was guidance switched on by a callback?)."
            )
        double = lambda x: None if x is None else torch.cat([x, x])  # noqa: E731
        style = None if image_embeds is None else torch.cat([torch.zeros_like(image_embeds), image_embeds])
        return double(latents), torch.cat([negative_prompt_embeds, prompt_embeds]), double(condition_latents), style

    def prepare_latents(
        self,
        shape: tuple[int, ...],
        dtype: torch.dtype,
        device: torch.device,
        generator: torch.Generator | list[torch.Generator] | None,
        latents: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if latents is None:
            latents = randn_tensor(shape, generator=generator, device=device, dtype=dtype)
        else:
            latents = latents.to(device=device, dtype=dtype)
        return latents * self.scheduler.init_noise_sigma

    def prepare_extra_step_kwargs(
        self, generator: torch.Generator | list[torch.Generator] | None, eta: float
    ) -> dict[str, Any]:
        # eta (DDIM's η) and generator only go to schedulers whose `step` takes them.
        parameters = inspect.signature(self.scheduler.step).parameters
        return {key: value for key, value in (("eta", eta), ("generator", generator)) if key in parameters}

    def decode_latents(self, latents: torch.Tensor, decode_chunk_size: int | None) -> torch.Tensor:
        r"""Decodes latents `(B, 4, F, h, w)` to float32 video `(B, 3, F, H, W)` in [-1, 1], `decode_chunk_size` frames
        at a time (all at once when `None`)."""
        decode = lambda frames: self.vae.decode(frames.to(self.vae.dtype)).sample  # noqa: E731
        return per_frame(decode, latents / self.vae.config.scaling_factor, decode_chunk_size).float()

    @torch.no_grad()
    @replace_example_docstring(EXAMPLE_DOC_STRING)
    def __call__(
        self,
        prompt: str | list[str] | None = None,
        negative_prompt: str | list[str] | None = None,
        *,
        motion_vectors: torch.Tensor | np.ndarray | None = None,
        depth: ConditionInput | None = None,
        sketch: ConditionInput | None = None,
        single_sketch: ConditionInput | None = None,
        masked_video: ConditionInput | None = None,
        mask: ConditionInput | None = None,
        image: ConditionInput | None = None,
        conditions: dict[str, ConditionInput] | None = None,
        style_image: PIL.Image.Image | list[PIL.Image.Image] | None = None,
        num_frames: int | None = None,
        height: int | None = None,
        width: int | None = None,
        num_inference_steps: int = 50,
        guidance_scale: float | None = None,
        condition_scale: float | dict[str, float] = 1.0,
        num_videos_per_prompt: int = 1,
        eta: float = 0.0,
        generator: torch.Generator | list[torch.Generator] | None = None,
        latents: torch.Tensor | None = None,
        prompt_embeds: torch.Tensor | None = None,
        negative_prompt_embeds: torch.Tensor | None = None,
        image_embeds: torch.Tensor | None = None,
        output_type: str = "np",
        return_dict: bool = True,
        callback_on_step_end: Callable[["VideoComposerPipeline", int, torch.Tensor, dict], dict] | None = None,
        callback_on_step_end_tensor_inputs: Sequence[str] = ("latents",),
        decode_chunk_size: int | None = None,
        preserve_unmasked: bool = False,
    ) -> VideoComposerPipelineOutput | tuple:
        r"""
        Generates videos from text and any subset of the conditions. Conditions are tensors `(1 or B, C, F, H, W)` in
        the canonical ranges below (broadcast over the `B` prompts), numpy arrays of that layout, or PIL images (see
        [`~VideoComposerPipeline.condition_to_tensor`]). They are never resized: any size with the aspect ratio of
        `height` x `width` works, except for `motion_vectors`, whose pixel values need the video's size (the original
        uses 1.5x the video size for the others). A condition that is not given contributes zero.

        Args:
            prompt (`str` or `list[str]`, *optional*): The prompt(s); give this or `prompt_embeds`. A list of
                `(start_frame, text)` segments makes one video whose prompt changes over time (see
                [`~pipelines.long_video.LongVideoMixin`]).
            negative_prompt (`str` or `list[str]`, *optional*): Prompt of the unconditional branch (default `""`).
            motion_vectors (`torch.Tensor`, *optional*): `(B, 2, F, H, W)` sparse (dx, dy) pixel displacements.
            depth (*optional*): `(B, 1, F, H, W)` MiDaS inverse depth / 20, clamped to [0, 10].
            sketch (*optional*): `(B, 1, F, H, W)` bright strokes on dark, [0, 1].
            single_sketch (*optional*): `(B, 1, F, H, W)` one sketch frame repeated over F, [0, 1].
            masked_video (*optional*): `(B, 3, F, H, W)` source video in [0, 1] (like every video input; turned into
                [-1, 1] inside); needs `mask`.
            mask (*optional*): `(B, 1, F, H, W)` in [0, 1], 1 marks the hole to generate; needs `masked_video`.
            image (*optional*): `(B, 3, F, H, W)` one image in [0, 1] repeated over F.
            conditions (`dict`, *optional*): Condition keyword -> input, for any condition of the schema
                (`videocomposer.conditions`), registered ones included: `conditions={"depth": d}` is `depth=d`.
            style_image (`PIL.Image.Image` or `list`, *optional*): Style reference, encoded by `image_encoder`.
            num_frames (`int`, *optional*): Frames to generate; defaults to the model's `unet.config.num_frames`. Beyond
                it the temporal layers run over overlapping windows (see [`~VideoComposerPipeline.enable_long_video`]).
            height (`int`, *optional*), width (`int`, *optional*): Video size in pixels; default to the model's native
                `unet.config.sample_size * vae_scale_factor`.
            num_inference_steps (`int`, defaults to 50): Denoising steps.
            guidance_scale (`float`, *optional*): Classifier-free guidance `u + s * (c - u)`; off at <= 1. Defaults to
                the model's `default_guidance_scale` (the original's 9.0 unless the folder recommends another).
            condition_scale (`float` or `dict[str, float]`, defaults to 1.0): Multiplies the STC branch outputs; a
                dict maps STC names (`motion`, `depth`, `sketch`, `single_sketch`, `masked`, `local_image`) to scales.
            num_videos_per_prompt (`int`, defaults to 1): Videos per prompt.
            eta (`float`, defaults to 0.0): DDIM η (ignored by other schedulers).
            generator (`torch.Generator` or `list`, *optional*): One generator, or one per video.
            latents (`torch.Tensor`, *optional*): Initial noise `(B * num_videos_per_prompt, 4, F, H/8, W/8)`.
            prompt_embeds (`torch.Tensor`, *optional*): Text embeddings `(B, L, D)`.
            negative_prompt_embeds (`torch.Tensor`, *optional*): Unconditional embeddings, shaped as `prompt_embeds`.
            image_embeds (`torch.Tensor`, *optional*): Precomputed CLIP image embeddings `(1 or B, D)` for the style
                token; the unconditional branch uses zeros, as the original.
            output_type (`str`, defaults to `"np"`): `"np"`, `"pt"`, `"pil"` or `"latent"` (no decoding).
            return_dict (`bool`, defaults to `True`): Return a [`VideoComposerPipelineOutput`] instead of a tuple.
            callback_on_step_end (`Callable`, *optional*): `callback(pipe, step, timestep, callback_kwargs)` called
                after each step; it may return a dict replacing any of the tensors it was given.
            callback_on_step_end_tensor_inputs (`Sequence[str]`, defaults to `("latents",)`): Tensors passed to the
                callback, from `_callback_tensor_inputs`.
            decode_chunk_size (`int`, *optional*): Frames the VAE decodes at once (all when `None`).
            preserve_unmasked (`bool`, defaults to `False`): With `masked_video` + `mask`, keep the frame outside the
                hole: the known latents are re-noised into every step and the decoded frames are composited with the
                source (exact up to 1/255 when `masked_video` has the output size); see `pipelines.inpainting`.
                `False` samples as the original does.

        Examples:

        Returns:
            [`VideoComposerPipelineOutput`] or `tuple`: the frames (see `output_type`), as a dict or a 1-tuple.
        """
        num_frames, height, width = video_size(self.unet.config, self.vae_scale_factor, num_frames, height, width)
        if num_frames is None:
            raise ValueError("`num_frames` has to be given: the unet config has no `num_frames`.")
        guidance_scale = self.config.default_guidance_scale if guidance_scale is None else guidance_scale
        keywords = dict(motion_vectors=motion_vectors, depth=depth, sketch=sketch, single_sketch=single_sketch,
                        masked_video=masked_video, mask=mask, image=image)  # fmt: skip
        conditions = conditions or {}
        twice = sorted(k for k, v in conditions.items() if v is not None and keywords.get(k) is not None)
        if twice:
            raise ValueError(f"`conditions` and the keyword arguments both give {twice}; give each condition once.")
        prompt, prompt_segments = split_prompt_segments(prompt, num_frames)
        given = {**conditions, **{key: value for key, value in keywords.items() if value is not None}}
        conditions = self.condition_processor.preprocess(given, num_frames)
        self.check_inputs(
            prompt=prompt,
            negative_prompt=negative_prompt,
            conditions=conditions,
            style_image=style_image,
            num_frames=num_frames,
            height=height,
            width=width,
            num_inference_steps=num_inference_steps,
            guidance_scale=guidance_scale,
            num_videos_per_prompt=num_videos_per_prompt,
            condition_scale=condition_scale,
            generator=generator,
            latents=latents,
            prompt_embeds=prompt_embeds,
            negative_prompt_embeds=negative_prompt_embeds,
            image_embeds=image_embeds,
            output_type=output_type,
            callback_on_step_end_tensor_inputs=callback_on_step_end_tensor_inputs,
            decode_chunk_size=decode_chunk_size,
        )
        if preserve_unmasked and "mask" not in conditions:
            raise ValueError("`preserve_unmasked=True` needs `masked_video` and `mask` (the frame to keep).")
        long_video = self.prepare_long_video(num_frames)
        self._guidance_scale = guidance_scale
        self._interrupt = False
        device = self._execution_device
        dtype = self.unet.dtype

        # 1. text and style
        prompt_embeds, negative_prompt_embeds = self.encode_prompt(
            prompt,
            device,
            num_videos_per_prompt,
            self.do_classifier_free_guidance,
            negative_prompt=negative_prompt,
            prompt_embeds=prompt_embeds,
            negative_prompt_embeds=negative_prompt_embeds,
            dtype=dtype,
        )
        if prompt_segments is not None:
            prompt_embeds, negative_prompt_embeds = self.encode_prompt_segments(
                prompt_segments, num_frames, device, num_videos_per_prompt, negative_prompt_embeds, dtype
            )
        batch_size = len(prompt_embeds) // num_videos_per_prompt  # prompts (one for a segmented prompt)
        if style_image is not None:
            image_embeds = self.encode_image(style_image, device)
        if image_embeds is not None:
            image_embeds = image_embeds.to(device=device, dtype=dtype).expand(batch_size, -1)
            image_embeds = image_embeds.repeat_interleave(num_videos_per_prompt, dim=0)

        # 2. conditions -> STC latent, once
        latent_size = (height // self.vae_scale_factor, width // self.vae_scale_factor)
        condition_latents = None
        if conditions:
            stc_inputs = self.prepare_conditions(conditions, batch_size, device)
            condition_latents = self.stc_encoder(
                stc_inputs, latent_size=latent_size, condition_scale=condition_scale, return_dict=False
            )[0]
            condition_latents = condition_latents.to(dtype).repeat_interleave(num_videos_per_prompt, dim=0)

        # 3. timesteps and noise
        self.scheduler.set_timesteps(num_inference_steps, device=device)
        timesteps = self.scheduler.timesteps
        self._num_timesteps = len(timesteps)
        shape = (batch_size * num_videos_per_prompt, self.unet.config.in_channels, num_frames, *latent_size)
        if latents is None and long_video is not None:
            latents = long_video_noise(
                shape,
                long_video.noise_type,
                long_video.windows,
                long_video.noise_anchor_spacing,
                generator,
                device,
                dtype,
            )
        latents = self.prepare_latents(shape, dtype, device, generator, latents)
        extra_step_kwargs = self.prepare_extra_step_kwargs(generator, eta)
        blend = None
        if preserve_unmasked:
            blend = prepare_latent_blend(self.vae, conditions["masked_video"], conditions["mask"], height, width,
                                         latents, num_videos_per_prompt, generator)  # fmt: skip

        # 4. denoising loop: both guidance branches in one batched UNet call. Guidance is read every step (a callback
        # may change `_guidance_scale`); the doubled batch is built per step, so every input follows it.
        with self.progress_bar(total=num_inference_steps) as progress_bar:
            for i, t in enumerate(timesteps):
                if self.interrupt:
                    continue
                latent_model_input, text, condition, style = self._guidance_batch(
                    latents, prompt_embeds, negative_prompt_embeds, condition_latents, image_embeds
                )
                latent_model_input = self.scheduler.scale_model_input(latent_model_input, t)
                noise_pred = self.unet(
                    latent_model_input,
                    t,
                    encoder_hidden_states=text,
                    condition_latents=condition,
                    image_embeds=style,
                    return_dict=False,
                )[0]
                if self.do_classifier_free_guidance:
                    noise_pred_uncond, noise_pred_text = noise_pred.chunk(2)
                    noise_pred = noise_pred_uncond + self.guidance_scale * (noise_pred_text - noise_pred_uncond)
                latents = self.scheduler.step(noise_pred, t, latents, **extra_step_kwargs, return_dict=False)[0]
                if blend is not None:
                    next_t = timesteps[i + 1] if i + 1 < len(timesteps) else None  # None: the last step
                    latents = blend.blend(latents, self.scheduler, next_t)

                if callback_on_step_end is not None:
                    callback_kwargs = {}
                    for k in callback_on_step_end_tensor_inputs:
                        callback_kwargs[k] = locals()[k]
                    callback_outputs = callback_on_step_end(self, i, t, callback_kwargs)
                    latents = callback_outputs.pop("latents", latents)
                    prompt_embeds = callback_outputs.pop("prompt_embeds", prompt_embeds)
                    negative_prompt_embeds = callback_outputs.pop("negative_prompt_embeds", negative_prompt_embeds)
                progress_bar.update()

        # 5. decode
        if output_type == "latent":
            frames = latents
        else:
            video = self.decode_latents(latents, decode_chunk_size)
            if blend is not None:
                video = blend.composite(video)
            frames = self.video_processor.postprocess_video(video=video, output_type=output_type)

        self.maybe_free_model_hooks()
        if not return_dict:
            return (frames,)
        return VideoComposerPipelineOutput(frames=frames)
