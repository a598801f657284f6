"""What makes a saved `VideoComposerPipeline` folder loadable by diffusers' generic `DiffusionPipeline.from_pretrained`.

diffusers resolves a `model_index.json` `_class_name` string only among its own pipelines. For a pipeline that lives
elsewhere its mechanism is a list `[module_file_stem, class_name]` plus `module_file_stem.py` in the folder, run only
with `trust_remote_code=True`. Our file holds no model code: it imports the class from the installed package.
The components are already named by module path (`["videocomposer.models.unet_3d", "VideoComposerUNet3DModel"]`), which
diffusers resolves once that module is imported, as the pipeline file does.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from videocomposer.atomic_files import atomic_write_text

PIPELINE_CLASS_NAME: tuple[str, str] = ("pipeline_videocomposer", "VideoComposerPipeline")
PIPELINE_FILE_TEXT = '''"""VideoComposerPipeline, from the installed `videocomposer` package (`pip install videocomposer`).

This folder is loaded by `videocomposer.VideoComposerPipeline.from_pretrained(folder)`, or by diffusers' generic
`DiffusionPipeline.from_pretrained(folder, trust_remote_code=True)`, which runs this file.
"""

from videocomposer import VideoComposerPipeline

__all__ = ["VideoComposerPipeline"]
'''


def write_loadable_model_index(folder: str | os.PathLike) -> None:
    """Add the pipeline file to a saved pipeline folder and point `model_index.json`'s `_class_name` at it.

    Raises:
        FileNotFoundError: `folder` has no `model_index.json` (it is not a saved pipeline).
    """
    folder = Path(folder)
    index_path = folder / "model_index.json"
    if not index_path.is_file():
        raise FileNotFoundError(f"folder: {folder} has no model_index.json (not a saved pipeline)")
    index = json.loads(index_path.read_text(encoding="utf-8"))
    index["_class_name"] = list(PIPELINE_CLASS_NAME)
    atomic_write_text(folder / f"{PIPELINE_CLASS_NAME[0]}.py", PIPELINE_FILE_TEXT)
    atomic_write_text(index_path, json.dumps(index, indent=2, sort_keys=True) + "\n")


def loading_instructions(location: str = "PATH_OR_REPO", dtype: str | None = None) -> str:
    """The model card's "Loading" section (markdown) for a folder or Hub repo written by `write_loadable_model_index`.

    `dtype` (e.g. `"float16"`) adds `dtype=torch.<dtype>` to the calls.
    """
    imports = "import torch\n" if dtype else ""
    kwargs = f", dtype=torch.{dtype}" if dtype else ""
    return f"""## Loading

Install the `videocomposer` package first (it holds the pipeline and model code: `pip install .` in a checkout of
its repository). Then load with its class:

```python
{imports}from videocomposer import VideoComposerPipeline

pipe = VideoComposerPipeline.from_pretrained("{location}"{kwargs})
```

or with diffusers' generic entry point, which runs this folder's `{PIPELINE_CLASS_NAME[0]}.py` (it only imports
`VideoComposerPipeline` from the installed package; read it first), hence `trust_remote_code=True`:

```python
{imports}from diffusers import DiffusionPipeline

pipe = DiffusionPipeline.from_pretrained("{location}", trust_remote_code=True{kwargs})
```

Height, width and frame count default to the model's native size (`unet.config.sample_size * 8`,
`unet.config.num_frames`).
"""
