"""The Gradio layout of `videocomposer app`: tabs that set conditions, generation controls, outputs.

All work is done by `ComposerApp` and `videocomposer.app.canvas`; the handlers here turn their ``ValueError`` into a
message in the status line (``#vc-status``) and leave the other outputs unchanged.
"""

from __future__ import annotations

from collections.abc import Callable

import gradio as gr

from .canvas import canvas_size, new_canvas, remove_stroke, smoothed_canvas, stroke_labels
from .canvas_frontend import CANVAS_CSS, CANVAS_HTML, CANVAS_JS
from .session import VIDEO_CONDITIONS, ComposerApp
from .uploads import background_image, data_url, load_clip, mask_from_editor, mask_from_upload

DEFAULT_RADIUS_FRACTION = 0.25  # default stroke radius: a quarter of the canvas's short side
EXAMPLE_PROMPT = "a red circle moving on a plain background"
PAGE_CSS = "#vc-status { min-height: 2em; }"


def ok(message: str) -> str:
    return message


def error(message: str) -> str:
    return f"**Error:** {message}"


def _guarded(handler: Callable, outputs: int) -> Callable:
    """Run ``handler``; on ``ValueError`` return its message for the status line and leave ``outputs`` unchanged."""

    def run(*args):
        try:
            return handler(*args)
        except ValueError as failure:
            return (*[gr.skip()] * outputs, error(str(failure))) if outputs else error(str(failure))

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

    return run


def _save_preview(app: ComposerApp, grid, name: str) -> str:
    from videocomposer.visualize import save_video

    return str(save_video(grid, app.new_output_folder(name) / f"{name}.mp4", fps=app.fps))


def build_ui(app: ComposerApp, default_frames: int) -> gr.Blocks:
    """The app's ``gr.Blocks`` (not launched)."""
    width, height = canvas_size(app.height, app.width)
    default_radius = round(DEFAULT_RADIUS_FRACTION * min(width, height))

    with gr.Blocks(title="VideoComposer") as demo:
        gr.Markdown(
            f"## VideoComposer: draw motion, extract conditions, generate\n"
            f"Model: {app.width}x{app.height} video, conditions {', '.join(app.branches)}. Generate uses every "
            "condition you set: the strokes drawn in *Draw motion*, the conditions extracted in *From a video* and "
            "the mask of *Inpaint*."
        )
        extracted = gr.State(None)  # {"conditions": {...}, "source": frames}
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
                            radius = gr.Slider(2, max(width, height), value=default_radius, step=1,
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
                        names = gr.CheckboxGroup(list(VIDEO_CONDITIONS), value=["motion"], label="Conditions",
                                                 info="sketch needs --sketch-model, depth --depth-model; canny and "
                                                 "mask (random) need no weights")  # fmt: skip
                        with gr.Row():
                            extract = gr.Button("Extract", elem_id="vc-extract")
                            forget = gr.Button("Do not use these conditions")
                        extracted_grid = gr.Video(label="Extracted conditions", elem_id="vc-extracted")
                    with gr.Tab("Inpaint"):
                        inpaint_clip = gr.File(label="Clip to inpaint", elem_id="vc-inpaint-clip")
                        editor = gr.ImageEditor(type="numpy", label="Paint the region to regenerate (all frames)",
                                                brush=gr.Brush(colors=["#ffffff"], color_mode="fixed", default_size=24))  # fmt: skip
                        mask_file = gr.File(label="…or upload a mask (white = regenerate)", elem_id="vc-mask")
                        with gr.Row():
                            use_mask = gr.Button("Use this mask", elem_id="vc-use-mask")
                            drop_mask = gr.Button("Do not inpaint")
                        inpaint_grid = gr.Video(label="Masked clip")
            with gr.Column(scale=2):
                prompt = gr.Textbox(EXAMPLE_PROMPT, label="Prompt", elem_id="vc-prompt")
                negative = gr.Textbox("", label="Negative prompt", elem_id="vc-negative")
                with gr.Row():
                    steps = gr.Number(30, label="Steps", precision=0, minimum=1, elem_id="vc-steps")
                    guidance = gr.Number(3.0, label="Guidance", minimum=0, elem_id="vc-guidance")
                    seed = gr.Number(0, label="Seed", precision=0, minimum=0, elem_id="vc-seed")
                    frames = gr.Number(default_frames, label="Frames", precision=0, minimum=2, elem_id="vc-frames")
                with gr.Accordion("Condition scales", open=False):
                    scales = [gr.Slider(0, 3, value=1.0, step=0.05, label=f"{name} scale") for name in app.scale_names]
                generate = gr.Button("Generate", variant="primary", elem_id="vc-generate")
                status = gr.Markdown("", elem_id="vc-status")
                video = gr.Video(label="Generated video", elem_id="vc-video")
                grid = gr.Video(label="Condition grid (strokes over the motion tile; colour wheel = direction)",
                                elem_id="vc-grid")  # fmt: skip
                downloads = gr.File(label="Downloads: video, strokes JSON, conditions (safetensors)",
                                    file_count="multiple", elem_id="vc-downloads")  # fmt: skip

        # --- Draw motion
        def on_strokes(value, num_frames, speed):
            value = smoothed_canvas(value, int(num_frames), speed)
            labels = stroke_labels(value)
            message = ok(f"{len(labels)} stroke(s), smoothed" if labels else "no strokes")
            return value, gr.update(choices=labels, value=labels[-1] if labels else None), message

        def on_timing(value, num_frames, speed):
            """Re-smooth quietly (the status line keeps its message, e.g. of a generation under way)."""
            if not value.get("strokes") or not num_frames or num_frames < 2:
                return gr.skip(), gr.skip(), gr.skip()
            return (*on_strokes(value, num_frames, speed)[:2], gr.skip())

        canvas.input(_guarded(on_strokes, 2), [canvas, frames, keep_speed], [canvas, stroke_list, status])
        for control in (keep_speed, frames):  # the dots (one per frame) and the speed follow these controls
            control.change(_guarded(on_timing, 2), [canvas, frames, keep_speed], [canvas, stroke_list, status])

        def on_radius(value, new_radius):
            return dict(value, radius=float(new_radius)), ok(f"new strokes get radius {new_radius:g}")

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
            conditions, source = app.extract(path, list(chosen), int(num_frames))
            preview = _save_preview(app, app.preview(conditions, source), "extracted")
            return {"conditions": conditions, "source": source}, preview, ok(f"extracted {', '.join(conditions)}")

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
            preview = _save_preview(app, app.preview(conditions, source), "masked")
            return mask, preview, ok("mask set: Generate regenerates the white region of every frame")

        use_mask.click(_guarded(on_use_mask, 2), [inpaint_clip, editor, mask_file], [inpaint, inpaint_grid, status])
        drop_mask.click(lambda: (None, None, ok("inpainting off")), None, [inpaint, inpaint_grid, status])

        # --- Generate
        def on_generate(value, extracted_value, mask, inpaint_path, text, negative_text, num_steps, scale, seed_value,
                        num_frames, speed, *scale_values, progress=gr.Progress()):  # noqa: B008  # fmt: skip
            num_frames = int(num_frames)
            conditions, strokes, source = {}, None, None
            if value.get("strokes"):
                strokes, conditions = app.stroke_conditions(value, num_frames, speed)
            if extracted_value is not None:
                overlap = set(conditions) & set(extracted_value["conditions"])
                if overlap:
                    raise ValueError("motion comes from both the drawn strokes and the extracted clip: clear the "
                                     "strokes or press 'Do not use these conditions'")  # fmt: skip
                conditions.update(extracted_value["conditions"])
                source = extracted_value["source"]
            if mask is not None:
                if "mask" in conditions:
                    raise ValueError("two masks: the extracted mask condition and the Inpaint mask; drop one")
                masked, masked_source = app.extract(inpaint_path, ["mask"], num_frames, mask=mask)
                conditions.update(masked)
                source = masked_source if source is None else source
            progress((0, int(num_steps)), desc="denoising")
            outputs = app.generate(
                text, negative_text, conditions, strokes, source, num_frames, int(num_steps), float(scale),
                int(seed_value), dict(zip(app.scale_names, scale_values)),
                progress=lambda step, total: progress((step, total), desc="denoising"),
            )  # fmt: skip
            files = [str(outputs.video), str(outputs.conditions)] + ([str(outputs.strokes)] if outputs.strokes else [])
            used = ", ".join(conditions) or "text only"
            return str(outputs.video), str(outputs.grid), files, ok(f"generated {num_frames} frames ({used})")

        generate.click(
            _guarded(on_generate, 3),
            [canvas, extracted, inpaint, inpaint_clip, prompt, negative, steps, guidance, seed, frames, keep_speed,
             *scales],
            [video, grid, downloads, status],
        )  # fmt: skip
    return demo
