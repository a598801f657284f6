"""VideoComposerPipeline, from the installed `videocomposer` package (`pip install videocomposer`).

This folder is loaded by `videocomposer.VideoComposerPipeline.from_pretrained(folder)`, or by diffusers' generic
`DiffusionPipeline.from_pretrained(folder, trust_remote_code=True)`, which runs this file.
"""

from videocomposer import VideoComposerPipeline

__all__ = ["VideoComposerPipeline"]
