"""Old-film restoration: synthetic damage with true masks, defect detection, filling that keeps the frame.

- `degrade.OldFilmDegradation`: seeded blotches, dust, drifting scratches, flicker, grain, blur, fading, compression;
  returns the damaged clip and the masks of the local defects (also a training transform).
- `detect.detect_defects`: one-frame defects by motion-compensated spike detection (SDIp / ROD), line scratches by a
  line detector; boolean masks.
- `fill.restore_clip`: propagation from neighbouring frames, then a filler (`model_fill.model_filler`: the
  pipeline's masked-video inpainting with `preserve_unmasked=True`; `fill.spatial_filler`: OpenCV Telea) for the rest;
  only mask pixels change.
- `frames_io`: video files and folders of frames (PNG, TIFF, JPEG) in and out, lossless.
"""

from .degrade import SEVERITIES, DegradedClip, OldFilmDegradation, Severity
from .detect import Detection, detect_defects
from .fill import restore_clip, spatial_filler
from .frames_io import read_frames, write_frames

__all__ = [
    "SEVERITIES",
    "DegradedClip",
    "Detection",
    "OldFilmDegradation",
    "Severity",
    "detect_defects",
    "read_frames",
    "restore_clip",
    "spatial_filler",
    "write_frames",
]
