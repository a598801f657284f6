"""`videocomposer app`: the browser app (Gradio; `pip install "videocomposer[app]"`), on the demo model by default."""

from __future__ import annotations

import argparse
import os
import tempfile


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
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine)")
    parser.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    parser.add_argument("--frames", type=int, default=None, help="default frame count (default: the model's)")
    parser.add_argument("--depth-model", default=None, help="local DPT folder: enables the depth condition")
    parser.add_argument("--sketch-model", default=None, help="PiDiNet table5_pidinet.pth: enables sketch")
    parser.add_argument("--output-dir", default=None, help="folder for the generated files (default: a temp folder)")
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
    try:
        import gradio  # noqa: F401
    except ImportError:
        raise ValueError('the app needs Gradio: pip install "videocomposer[app]"') from None
    from videocomposer.app.session import ComposerApp
    from videocomposer.app.ui import PAGE_CSS, build_ui
    from videocomposer.demo.components import NUM_FRAMES as DEMO_FRAMES

    from .generate import load_pipeline

    pipeline = load_pipeline(args.model)
    output_dir = args.output_dir or tempfile.mkdtemp(prefix="videocomposer-app-")
    app = ComposerApp(pipeline, output_dir, depth_model=args.depth_model, sketch_model=args.sketch_model)
    frames = args.frames or (DEMO_FRAMES if args.model is None else 16)
    demo = build_ui(app, frames)
    print(f"outputs go to {output_dir}", flush=True)
    demo.queue().launch(server_name=args.host, server_port=args.port, allowed_paths=[str(app.output_dir)],
                        css=PAGE_CSS, footer_links=[], max_file_size="500mb")  # fmt: skip
    return 0
