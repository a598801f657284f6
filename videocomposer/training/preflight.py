"""Checks of the training data and condition extractors that run before any model is loaded, so that a bad
``--train_data_dir``, captions file, column or extractor set-up is reported at once, naming the option to fix."""

import argparse
from pathlib import Path

from condition_extractors.base import get_extractor
from videocomposer.data.video_dataset import VideoTextDataset, read_captions


def build_dataset(args: argparse.Namespace) -> VideoTextDataset:
    """The training data set of ``args``, after checking the data options and building each on-the-fly extractor once
    (an extractor that cannot be built, e.g. ``sketch`` without weights, is a ``ValueError`` naming the option)."""
    if not Path(args.train_data_dir).is_dir():
        raise ValueError(f"--train_data_dir: {args.train_data_dir!r} is not a folder")
    try:
        read_captions(args.captions_file, args.video_column, args.caption_column)
    except ValueError as error:
        raise ValueError(f"--captions_file / --video_column / --caption_column: {error}") from error
    if args.conditions_cache_dir is None:
        for name in args.conditions:
            kwargs = (args.condition_kwargs or {}).get(name, {})
            try:
                get_extractor(name, **kwargs)
            except (TypeError, ValueError, OSError) as error:
                raise ValueError(
                    f"--conditions {name}: its extractor cannot be built ({error}); give its weights with "
                    f'--condition_kwargs \'{{"{name}": {{"model": "PATH"}}}}\', or read extracted conditions '
                    f"with --conditions_cache_dir"
                ) from error
    return VideoTextDataset(
        args.train_data_dir,
        args.captions_file,
        num_frames=args.num_frames,
        fps=args.fps,
        resolution=args.resolution,
        video_column=args.video_column,
        caption_column=args.caption_column,
        conditions=args.conditions,
        condition_kwargs=args.condition_kwargs,
        cache_dir=args.conditions_cache_dir,
        seed=args.seed,
    )
