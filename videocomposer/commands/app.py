"""`videocomposer app`: the browser app (Gradio; `pip install "videocomposer[app]"`), on the demo model by default."""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import tempfile
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "app",
        help="start the browser app: draw motion, extract conditions from a clip, inpaint, generate",
        description=(
            "A local web app (Gradio) over VideoComposerPipeline: draw strokes over a background, extract conditions "
            "from an uploaded clip, paint an inpainting mask, and generate; downloads the video, the strokes JSON and "
            "the conditions (safetensors). Runs offline on the installed demo model unless --model is given."
        ),
    )
    parser.add_argument("--model", default=None, help="pipeline folder (default: the installed demo model)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=7860, help="port to listen on")
    parser.add_argument("--frames", type=int, default=None, help="default frame count (default: the model's)")
    parser.add_argument("--depth-model", default=None, help="local DPT folder: enables the depth condition")
    parser.add_argument("--sketch-model", default=None, help="PiDiNet table5_pidinet.pth: enables sketch")
    parser.add_argument("--output-dir", default=None,
                        help="folder for the generated files, kept on exit (default: a temporary folder, removed on "
                        "exit)")  # fmt: skip
    parser.add_argument("--keep-files", action="store_true",
                        help="keep the temporary output folder and the uploads folder on exit (they are removed when "
                        "the app stops, by Ctrl-C or SIGTERM, unless this is given)")  # fmt: skip
    parser.set_defaults(func=run)


def check_args(args: argparse.Namespace) -> None:
    """Raise ValueError / FileNotFoundError naming the option, before anything is imported or loaded."""
    if not 0 < args.port < 65536:
        raise ValueError(f"--port: expected 1..65535, got {args.port}")
    if args.frames is not None and args.frames < 2:
        raise ValueError(f"--frames: expected an integer >= 2, got {args.frames}")
    if args.model is not None and not os.path.isdir(args.model):
        raise FileNotFoundError(f"--model: no such folder: {args.model}")
    for name in ("depth_model", "sketch_model"):
        path = getattr(args, name)
        if path is not None and not os.path.exists(path):
            raise FileNotFoundError(f"--{name.replace('_', '-')}: no such file or folder: {path}")
    if args.output_dir is not None and os.path.exists(args.output_dir) and not os.path.isdir(args.output_dir):
        raise ValueError(f"--output-dir: {args.output_dir} exists and is not a folder")


def run(args: argparse.Namespace) -> int:
    check_args(args)
    # Uploads (and Gradio's copies of the files it serves) go to a folder of their own, removed on exit; Gradio reads
    # GRADIO_TEMP_DIR when it is imported.
    uploads = tempfile.mkdtemp(prefix="videocomposer-uploads-")
    os.environ["GRADIO_TEMP_DIR"] = uploads
    temporary = [uploads]
    output_dir = args.output_dir
    if output_dir is None:
        output_dir = tempfile.mkdtemp(prefix="videocomposer-app-")
        temporary.append(output_dir)
    previous = signal.signal(signal.SIGTERM, _interrupt)  # SIGTERM stops the app as Ctrl-C does
    try:
        return _serve(args, output_dir)
    finally:
        signal.signal(signal.SIGTERM, previous)
        for folder in temporary:
            if args.keep_files:
                print(f"kept {folder}", flush=True)
            else:
                shutil.rmtree(folder, ignore_errors=True)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def _serve(args: argparse.Namespace, output_dir: str) -> int:
    """Load the model, build the page and serve it until Ctrl-C / SIGTERM."""
    try:
        import gradio  # noqa: F401
    except ImportError:
        raise ValueError('the app needs Gradio: pip install "videocomposer[app]"') from None
    from videocomposer.app.model_info import frame_limit
    from videocomposer.app.session import ComposerApp
    from videocomposer.app.ui import build_ui, page_css

    from .generate import load_pipeline

    pipeline = load_pipeline(args.model)
    app = ComposerApp(pipeline, output_dir, depth_model=args.depth_model, sketch_model=args.sketch_model)
    max_frames = frame_limit(pipeline, app.height, app.width)
    frames = args.frames or pipeline.unet.config.num_frames or 16
    if frames > max_frames:
        raise ValueError(f"--frames: expected 2..{max_frames} (this model and machine's memory), got {frames}")
    demo = build_ui(app, frames, max_frames)
    print(f"outputs go to {output_dir}; uploads to {os.environ['GRADIO_TEMP_DIR']}", flush=True)
    try:
        demo.queue().launch(server_name=args.host, server_port=args.port, allowed_paths=[str(Path(output_dir))],
                            css=page_css(app.width, app.height), footer_links=[], max_file_size="500mb")  # fmt: skip
    except KeyboardInterrupt:
        demo.close()
    print("the app stopped", flush=True)
    return 0
