"""The Gradio layout of `videocomposer app`: tabs that set conditions, generation controls, outputs.

All work is done by `ComposerApp` and `videocomposer.app.canvas`; the handlers here check every field (a message in
the status line, ``#vc-status``, naming the field), turn the ``ValueError`` of the work into a message there too, and
leave the other outputs unchanged.
"""

from __future__ import annotations

import functools
import logging
import math
import threading
from collections.abc import Callable

import gradio as gr

from .canvas import canvas_size, new_canvas, remove_stroke, smoothed_canvas, stroke_labels
from .canvas_frontend import CANVAS_CSS, CANVAS_HTML, CANVAS_JS
from .model_info import condition_words, frame_limit, model_summary
from .session import GRID_HEIGHT, ComposerApp, GenerationStopped
from .uploads import background_image, data_url, load_clip, mask_from_editor, mask_from_upload

logger = logging.getLogger(__name__)

DEFAULT_RADIUS_FRACTION = 0.25  # default stroke radius: a quarter of the canvas's short side
EXAMPLE_PROMPT = "a red circle moving on a plain background"
SEED_RANGE = (0, 2**32 - 1)
GUIDANCE_RANGE = (0.0, 30.0)
MAX_CONDITION_SCALE = 3.0
GRID_ZOOM = 2  # the condition grid's tiles (GRID_HEIGHT pixels high) are shown at twice their size
VIDEO_BOX = 480  # pixels available to the generated video; it is shown at the largest integer scale that fits
# The "From a video" choices: app condition name (`session.VIDEO_CONDITIONS`) -> what the user reads
EXTRACT_CHOICES = {
    "motion": "motion (the clip's movement)",
    "depth": "depth (needs --depth-model)",
    "sketch": "sketch (PiDiNet, needs --sketch-model)",
    "canny": "canny edges (no weights needed)",
    "mask": "random inpainting mask",
}
EXTRACT_WORDS = {"motion": "motion", "depth": "depth", "sketch": "sketch", "canny": "canny edges",
                 "mask": "a random inpainting mask"}  # fmt: skip


def video_scale(width: int, height: int, box: int = VIDEO_BOX) -> int:
    """The integer factor at which a ``width`` x ``height`` video fits ``box`` pixels (at least 1)."""
    return max(1, box // max(width, height))


def page_css(width: int, height: int) -> str:
    """The page's CSS: the generated video at an integer nearest-neighbour scale; the condition grid (full width) at
    `GRID_ZOOM` times its size and the previews at their size (a fixed height keeps the scale an integer)."""
    scale = video_scale(width, height)
    return f"""
#vc-status {{ min-height: 2em; }}
#vc-video video {{ width: {scale * width}px !important; height: {scale * height}px !important; max-width: none;
                  max-height: none; object-fit: fill; image-rendering: pixelated; }}
#vc-grid video {{ height: {GRID_ZOOM * GRID_HEIGHT}px !important; }}
#vc-extracted video, #vc-inpaint-grid video {{ height: {GRID_HEIGHT}px !important; }}
#vc-grid video, #vc-extracted video, #vc-inpaint-grid video {{ width: auto !important; max-width: none !important;
    max-height: none !important; object-fit: fill; image-rendering: pixelated; }}
#vc-grid, #vc-extracted, #vc-inpaint-grid {{ overflow-x: auto; }}
#vc-grid video, #vc-extracted video, #vc-inpaint-grid video, #vc-video video {{ margin-top: 2em; }}
"""


def ok(message: str) -> str:
    return message


def error(message: str) -> str:
    return f"**Error:** {message}"


def unexpected(failure: Exception) -> str:
    """The status line for a failure that is not a user error (the traceback goes to the app's terminal)."""
    logger.exception("the app failed")
    return error(f"something went wrong ({type(failure).__name__}: {failure}); the details are in the terminal "
                 "that runs the app")  # fmt: skip


def _shown(number: float) -> str:
    """``number`` as a user typed it: ``4294967295``, ``2.5``, ``nan`` (not ``4.29497e+09``)."""
    return str(int(number)) if math.isfinite(number) and number == int(number) and abs(number) < 1e16 else f"{number:g}"


def field_number(value: object, field: str, low: float, high: float, whole: bool = False) -> float:
    """The field's value as a number in ``[low, high]`` (an integer if ``whole``); ``ValueError`` naming the field
    otherwise (empty included)."""
    expected = f"enter a {'whole number' if whole else 'number'} from {_shown(low)} to {_shown(high)}"
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ValueError(f"{field} is empty: {expected}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{field}: {value!r} is not a number; {expected}") from None
    if not math.isfinite(number) or (whole and number != int(number)) or not low <= number <= high:
        raise ValueError(f"{field} is {_shown(number)}: {expected}")
    return number


def whole_number(value: object, field: str, low: int, high: int) -> int:
    """`field_number` for a whole number."""
    return int(field_number(value, field, low, high, whole=True))


def field_slider(*args, **kwargs) -> gr.Slider:
    """A `gr.Slider` whose typed value reaches the handler as it is: the handler checks it and names the field
    (Gradio's own check shows a toast that does not). Not a subclass: Gradio writes a ``.pyi`` file beside the
    module of every component class."""
    slider = gr.Slider(*args, **kwargs)
    slider.preprocess = lambda payload: payload
    return slider


def guidance_value(value: object) -> float | None:
    """The Guidance field: ``None`` when empty (the model's default), else a number in `GUIDANCE_RANGE`."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    low, high = GUIDANCE_RANGE
    expected = f"enter a number from {low:g} to {high:g}, or leave it empty for the model's default"
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"Guidance: {value!r} is not a number; {expected}") from None
    if not math.isfinite(number) or not low <= number <= high:
        raise ValueError(f"Guidance is {number:g}: {expected}")
    return number


def _guarded(handler: Callable, outputs: int) -> Callable:
    """Run ``handler``; on an error return its message for the status line and leave ``outputs`` unchanged."""

    @functools.wraps(handler)
    def run(*args):
        try:
            return handler(*args)
        except ValueError as failure:
            message = error(str(failure))
        except Exception as failure:  # noqa: BLE001  (shown, with the traceback in the terminal)
            message = unexpected(failure)
        return (*[gr.skip()] * outputs, message) if outputs else message

    return run


def _upload_handler(handler: Callable, outputs: int) -> Callable:
    """For an upload's ``change``: nothing when the file is removed; a rejected file is removed (first output), its
    message goes to the status line, the other ``outputs`` stay unchanged."""

    def run(path, *args):
        if path is None:
            return (*[gr.skip()] * (outputs + 2),)
        try:
            return (gr.skip(), *handler(path, *args))
        except ValueError as failure:
            return (None, *[gr.skip()] * outputs, error(str(failure)))
        except Exception as failure:  # noqa: BLE001
            return (None, *[gr.skip()] * outputs, unexpected(failure))

    return run


def _save_preview(app: ComposerApp, grid, name: str) -> str:
    from videocomposer.visualize import save_video

    return str(save_video(grid, app.new_output_folder(name) / f"{name}.mp4", fps=app.fps))


def build_ui(app: ComposerApp, default_frames: int, max_frames: int | None = None) -> gr.Blocks:
    """The app's ``gr.Blocks`` (not launched). ``max_frames``: the Frames limit (default: `frame_limit`)."""
    width, height = canvas_size(app.height, app.width)
    default_radius = round(DEFAULT_RADIUS_FRACTION * min(width, height))
    max_frames = max_frames or frame_limit(app.pipeline, app.height, app.width)
    if not 2 <= default_frames <= max_frames:
        raise ValueError(f"frames: expected 2..{max_frames} (this model and machine), got {default_frames}")
    stop_events: dict[str, threading.Event] = {}  # one per browser session: set by Stop, read at every step

    from pipelines.pipeline_videocomposer import scheduler_step_limit

    max_steps = scheduler_step_limit(app.pipeline.scheduler)

    def stop_event_of(request: gr.Request | None) -> threading.Event:
        return stop_events.setdefault(request.session_hash if request else "", threading.Event())

    def read_frames(value: object) -> int:
        return whole_number(value, "Frames", 2, max_frames)

    with gr.Blocks(title="VideoComposer") as demo:
        gr.Markdown(
            "## VideoComposer: draw motion, extract conditions, generate\n"
            f"{model_summary(app.pipeline, app.height, app.width, max_frames)}\n\n"
            "Generate uses every condition you set: the strokes drawn in *Draw motion*, the conditions extracted in "
            "*From a video* and the mask of *Inpaint*.",
            elem_id="vc-header",
        )
        extracted = gr.State(None)  # {"conditions": {...}, "source": frames, "names": [...]}
        inpaint = gr.State(None)
        with gr.Row():
            with gr.Column(scale=3):
                with gr.Tabs():
                    with gr.Tab("Draw motion"):
                        canvas = gr.HTML(
                            value=new_canvas(width, height, default_radius),
                            html_template=CANVAS_HTML,
                            css_template=CANVAS_CSS,
                            js_on_load=CANVAS_JS,
                            elem_id="vc-canvas",
                        )
                        gr.Markdown("Press, drag and release to draw a stroke: the region within the radius of its "
                                    "start follows it over the clip. The thick curve is the smoothed path, one dot "
                                    "per frame.")  # fmt: skip
                        with gr.Row():
                            radius = field_slider(2, max(width, height), value=default_radius, step=1,
                                                  label="Radius of the next strokes (canvas pixels)",
                                                  elem_id="vc-radius")  # fmt: skip
                            keep_speed = gr.Checkbox(False, label="Keep drawing speed (else constant speed)")
                        with gr.Row():
                            stroke_list = gr.Dropdown([], label="Strokes", elem_id="vc-stroke-list", scale=2)
                            clear_stroke = gr.Button("Clear this stroke", elem_id="vc-clear-stroke")
                            clear_all = gr.Button("Clear all strokes", elem_id="vc-clear-all")
                        with gr.Row():
                            background_file = gr.File(label="Background: an image, or a video (its first frame)",
                                                      elem_id="vc-background")  # fmt: skip
                            blank = gr.Button("Blank background")
                    with gr.Tab("From a video"):
                        clip = gr.File(label="Clip (mp4, mov, webm, mkv, gif)", elem_id="vc-clip")
                        names = gr.CheckboxGroup([(label, name) for name, label in EXTRACT_CHOICES.items()],
                                                 value=["motion"], label="Conditions", elem_id="vc-conditions")  # fmt: skip
                        with gr.Row():
                            extract = gr.Button("Extract", elem_id="vc-extract")
                            forget = gr.Button("Do not use these conditions")
                        extracted_grid = gr.Video(label="Extracted conditions: the clip, each condition, the "
                                                  "colour-wheel legend of the motion directions",
                                                  elem_id="vc-extracted")  # fmt: skip
                    with gr.Tab("Inpaint"):
                        inpaint_clip = gr.File(label="Clip to inpaint", elem_id="vc-inpaint-clip")
                        editor = gr.ImageEditor(type="numpy", label="Paint the region to regenerate (all frames)",
                                                brush=gr.Brush(colors=["#ffffff"], color_mode="fixed", default_size=24))  # fmt: skip
                        mask_file = gr.File(label="…or upload a mask (white = regenerate)", elem_id="vc-mask")
                        with gr.Row():
                            use_mask = gr.Button("Use this mask", elem_id="vc-use-mask")
                            drop_mask = gr.Button("Do not inpaint")
                        inpaint_grid = gr.Video(label="The clip with the region to regenerate blanked out",
                                                elem_id="vc-inpaint-grid")  # fmt: skip
            with gr.Column(scale=2):
                prompt = gr.Textbox(EXAMPLE_PROMPT, label="Prompt", elem_id="vc-prompt")
                negative = gr.Textbox("", label="Negative prompt", elem_id="vc-negative")
                with gr.Row():
                    steps = gr.Number(30, label=f"Steps (1-{max_steps})", elem_id="vc-steps")
                    guidance = gr.Textbox("", label="Guidance (empty: the model's)", placeholder="model default",
                                          elem_id="vc-guidance")  # fmt: skip
                    seed = gr.Number(0, label="Seed", elem_id="vc-seed")
                    frames = gr.Number(default_frames, label=f"Frames (2-{max_frames})",
                                       elem_id="vc-frames")  # fmt: skip
                with gr.Accordion("Condition scales", open=False):
                    scale_labels = [f"{word} scale" for word in condition_words(app.scale_names)]
                    scales = [field_slider(0, MAX_CONDITION_SCALE, value=1.0, step=0.05, label=label)
                              for label in scale_labels]  # fmt: skip
                with gr.Row():
                    generate = gr.Button("Generate", variant="primary", elem_id="vc-generate")
                    stop = gr.Button("Stop", variant="stop", interactive=False, elem_id="vc-stop")
                status = gr.Markdown("", elem_id="vc-status")
                video = gr.Video(label=f"Generated video ({video_scale(app.width, app.height)}x, "
                                 "nearest neighbour)", elem_id="vc-video")  # fmt: skip
                downloads = gr.File(label="Downloads: video, strokes JSON, conditions (safetensors)",
                                    file_count="multiple", elem_id="vc-downloads")  # fmt: skip
        grid = gr.Video(label="Condition grid: the clip, each condition (the strokes over the motion), the generated "
                        "video, and the colour wheel: the colour of each motion direction", elem_id="vc-grid")  # fmt: skip

        # --- Draw motion
        def on_strokes(value, num_frames, speed):
            value = smoothed_canvas(value, read_frames(num_frames), speed)
            labels = stroke_labels(value)
            message = ok(f"{len(labels)} stroke(s), smoothed" if labels else "no strokes")
            return value, gr.update(choices=labels, value=labels[-1] if labels else None), message

        def on_timing(value, num_frames, speed):
            """Re-smooth quietly (the status line keeps its message, e.g. of a generation under way); an invalid
            Frames value is reported when it is used (drawing, extracting, generating)."""
            try:
                read_frames(num_frames)
            except ValueError:
                return gr.skip(), gr.skip(), gr.skip()
            if not value.get("strokes"):
                return gr.skip(), gr.skip(), gr.skip()
            return (*on_strokes(value, num_frames, speed)[:2], gr.skip())

        canvas.input(_guarded(on_strokes, 2), [canvas, frames, keep_speed], [canvas, stroke_list, status])
        for control in (keep_speed, frames):  # the dots (one per frame) and the speed follow these controls
            control.change(_guarded(on_timing, 2), [canvas, frames, keep_speed], [canvas, stroke_list, status])

        def on_radius(value, new_radius):
            new_radius = field_number(new_radius, "Radius", 2, max(width, height))
            return dict(value, radius=new_radius), ok(f"new strokes get radius {new_radius:g}")

        radius.change(_guarded(on_radius, 1), [canvas, radius], [canvas, status])

        def on_clear_stroke(value, label, num_frames, speed):
            labels = stroke_labels(value)
            if label not in labels:
                raise ValueError("pick the stroke to clear in the Strokes list")
            return on_strokes(remove_stroke(value, labels.index(label)), num_frames, speed)

        clear_stroke.click(_guarded(on_clear_stroke, 2), [canvas, stroke_list, frames, keep_speed],
                           [canvas, stroke_list, status])  # fmt: skip
        clear_all.click(lambda value: (dict(value, strokes=[], smooth=[]), gr.update(choices=[], value=None),
                                       ok("strokes cleared")), canvas, [canvas, stroke_list, status])  # fmt: skip

        def on_background(path, value):
            image = background_image(path, value["width"], value["height"], app.fps)
            return dict(value, background=data_url(image)), ok("background set")

        background_file.change(_upload_handler(on_background, 1), [background_file, canvas],
                               [background_file, canvas, status])  # fmt: skip
        blank.click(lambda value: (dict(value, background=""), ok("blank background")), canvas, [canvas, status])

        # --- From a video
        def on_clip(path):
            load_clip(path, 1, app.fps)
            return (ok("clip loaded: pick conditions and press Extract"),)

        clip.change(_upload_handler(on_clip, 0), clip, [clip, status])

        def on_extract(path, chosen, num_frames):
            chosen = list(chosen)
            conditions, source = app.extract(path, chosen, read_frames(num_frames))
            preview = _save_preview(app, app.preview(conditions, source), "extracted")
            words = ", ".join(EXTRACT_WORDS[name] for name in chosen)
            value = {"conditions": conditions, "source": source, "words": words}
            return value, preview, ok(f"extracted {words}: Generate uses them")

        extract.click(_guarded(on_extract, 2), [clip, names, frames], [extracted, extracted_grid, status])
        forget.click(lambda: (None, None, ok("extracted conditions dropped")), None,
                     [extracted, extracted_grid, status])  # fmt: skip

        # --- Inpaint
        def on_inpaint_clip(path):
            first = background_image(path, width, height, app.fps)  # the canvas size: large enough to paint on
            return first, ok("paint the region to regenerate over the first frame, then press Use this mask")

        inpaint_clip.change(_upload_handler(on_inpaint_clip, 1), inpaint_clip, [inpaint_clip, editor, status])

        def on_use_mask(path, painted, uploaded):
            mask = mask_from_editor(painted)
            if uploaded is not None:
                if mask is not None:
                    raise ValueError("both a painted and an uploaded mask: clear one of them")
                frame = load_clip(path, 1, app.fps)  # the mask is drawn on the clip's frame: same aspect ratio
                mask = mask_from_upload(uploaded, *frame.shape[-2:])
            if mask is None:
                raise ValueError("no mask: paint over the first frame or upload a mask image")
            conditions, source = app.extract(path, ["mask"], 2, mask=mask)
            preview = _save_preview(app, app.preview(conditions, source), "inpaint_preview")
            return mask, preview, ok("mask set: Generate regenerates the white region of every frame")

        use_mask.click(_guarded(on_use_mask, 2), [inpaint_clip, editor, mask_file], [inpaint, inpaint_grid, status])
        drop_mask.click(lambda: (None, None, ok("inpainting off")), None, [inpaint, inpaint_grid, status])

        # --- Generate (the button is disabled and Stop enabled while it runs)
        def on_generate(request: gr.Request = None, progress=gr.Progress(), *values):  # noqa: B008
            """The generation; every field is checked first, each message names its field."""
            (value, extracted_value, mask, inpaint_path, text, negative_text, num_steps, scale, seed_value,
             num_frames, speed, *scale_values) = values  # fmt: skip
            stop_event = stop_event_of(request)  # cleared by on_start, set by on_stop
            try:
                if not text or not text.strip():
                    raise ValueError(f"Prompt is empty: describe the video, e.g. '{EXAMPLE_PROMPT}'")
                num_steps = whole_number(num_steps, "Steps", 1, max_steps)
                scale = guidance_value(scale)
                seed_value = whole_number(seed_value, "Seed", *SEED_RANGE)
                num_frames = read_frames(num_frames)
                scale_values = [field_number(v, label, 0, MAX_CONDITION_SCALE)
                                for v, label in zip(scale_values, scale_labels)]  # fmt: skip
                conditions, strokes, source, used = {}, None, None, []
                if value.get("strokes"):
                    strokes, conditions = app.stroke_conditions(value, num_frames, speed)
                    used.append("motion from the strokes")
                if extracted_value is not None:
                    if set(conditions) & set(extracted_value["conditions"]):
                        raise ValueError("motion comes from both the drawn strokes and the extracted clip: clear the "
                                         "strokes or press 'Do not use these conditions'")  # fmt: skip
                    conditions.update(extracted_value["conditions"])
                    source = extracted_value["source"]
                    used.append(f"{extracted_value['words']} from the clip")
                if mask is not None:
                    if "mask" in conditions:
                        raise ValueError("two masks: the extracted random mask and the Inpaint mask; drop one")
                    masked, masked_source = app.extract(inpaint_path, ["mask"], num_frames, mask=mask)
                    conditions.update(masked)
                    source = masked_source if source is None else source
                    used.append("inpainting")
                progress((0, num_steps), desc="denoising")
                outputs = app.generate(
                    text, negative_text, conditions, strokes, source, num_frames, num_steps, scale, seed_value,
                    dict(zip(app.scale_names, scale_values)),
                    progress=lambda step, total: progress((step, total), desc="denoising"),
                    should_stop=stop_event.is_set,
                )  # fmt: skip
            except GenerationStopped as stopped:
                return gr.skip(), gr.skip(), gr.skip(), ok(f"Stopped after step {stopped.step} of {stopped.total}: "
                                                           "nothing was written")  # fmt: skip
            except ValueError as failure:
                return gr.skip(), gr.skip(), gr.skip(), error(str(failure))
            except Exception as failure:  # noqa: BLE001  (shown, with the traceback in the terminal)
                return gr.skip(), gr.skip(), gr.skip(), unexpected(failure)
            files = [str(outputs.video), str(outputs.conditions)] + ([str(outputs.strokes)] if outputs.strokes else [])
            with_what = ", ".join(used) or "the prompt only"
            return str(outputs.video), str(outputs.grid), files, ok(f"generated {num_frames} frames ({with_what})")

        def on_start(request: gr.Request = None):
            """Before the queued generation: a fresh stop flag (Stop, enabled from here on, sets it), the buttons."""
            stop_event_of(request).clear()
            return gr.update(interactive=False), gr.update(interactive=True), ok("generating…")

        def on_stop(request: gr.Request = None):
            stop_event_of(request).set()
            return ok("stopping after the current step…")

        idle = (gr.update(interactive=True), gr.update(interactive=False))
        generate.click(on_start, None, [generate, stop, status], queue=False).then(
            on_generate,
            [canvas, extracted, inpaint, inpaint_clip, prompt, negative, steps, guidance, seed, frames, keep_speed,
             *scales],
            [video, grid, downloads, status],
        ).then(lambda: idle, None, [generate, stop], queue=False)  # fmt: skip
        stop.click(on_stop, None, status, queue=False)
    return demo
