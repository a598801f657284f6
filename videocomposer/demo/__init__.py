"""The demo model: a small VideoComposer trained by the project on its synthetic moving shapes.

``DEMO_MODEL_DIR`` is the installed ``VideoComposerPipeline`` folder; ``python -m videocomposer.demo.build``
retrains it from scratch.
"""

from pathlib import Path

DEMO_MODEL_DIR = Path(__file__).resolve().parent.parent / "assets" / "videocomposer-demo"

__all__ = ["DEMO_MODEL_DIR"]
