"""Checks that run before any model is loaded, so that a bad ``--pretrained_model_name_or_path``, ``--output_dir``,
``--train_data_dir``, captions file, column, condition cache or extractor set-up is reported at once, naming the
option to fix: paths and folders, the cache's settings (its ``index.json``) against the run's, at least one usable
clip, and each on-the-fly extractor built once."""

import json
from pathlib import Path

from condition_extractors.base import get_extractor
from videocomposer.commands._checks import check_output_folder
from videocomposer.data.video_dataset import CACHE_INDEX_NAME, UnusableClipError, VideoTextDataset, read_captions

from .arguments import TrainingArguments

#: The options that :class:`VideoTextDataset` takes under the same names.
DATASET_OPTIONS = (
    "num_frames",
    "fps",
    "resolution",
    "video_column",
    "caption_column",
    "conditions",
    "condition_kwargs",
    "seed",
)
CACHE_HINT = "write it with `videocomposer extract --dataset DIR --captions-file FILE --conditions ... --cache DIR`"


def check_pretrained_model(name_or_path: str) -> None:
    """A local pipeline folder must hold ``model_index.json``; a name that is no folder must be a Hub repo id."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    path = Path(name_or_path).expanduser()
    if path.is_dir():
        if not (path / "model_index.json").is_file():
            raise ValueError(f"--pretrained_model_name_or_path: {name_or_path!r} has no model_index.json (not a "
                             "VideoComposerPipeline folder)")  # fmt: skip
        return
    try:  # a path (absolute, or starting with "." or "~", or with several "/") is no valid repo id
        validate_repo_id(name_or_path)
    except HFValidationError:
        raise ValueError(
            f"--pretrained_model_name_or_path: no such folder {name_or_path!r} (nor a Hub repo id)"
        ) from None


def check_cache_settings(args: TrainingArguments) -> None:
    """Check that the cache (its ``index.json``) was written with this run's settings."""
    path = Path(args.conditions_cache_dir) / CACHE_INDEX_NAME
    if not path.parent.is_dir():
        raise ValueError(f"--conditions_cache_dir: {args.conditions_cache_dir!r} is not a folder; {CACHE_HINT}")
    if not path.is_file():
        raise ValueError(
            f"--conditions_cache_dir: {args.conditions_cache_dir!r} has no {CACHE_INDEX_NAME}; {CACHE_HINT}"
        )
    settings = json.loads(path.read_text()).get("settings", {})
    expected = {"num_frames": ("--num_frames", args.num_frames), "fps": ("--fps", float(args.fps)),
                "height": ("--resolution", args.resolution), "width": ("--resolution", args.resolution),
                "conditions": ("--conditions", list(args.conditions))}  # fmt: skip
    wrong = {option: (settings.get(key), run) for key, (option, run) in expected.items() if settings.get(key) != run}
    if wrong:
        details = "; ".join(f"{option} {run!r} but the cache has {cache!r}" for option, (cache, run) in wrong.items())
        raise ValueError(f"--conditions_cache_dir: written with other settings: {details}; use the cache's settings "
                         "or write a new cache into an empty folder")  # fmt: skip


def check_usable_clip(dataset: VideoTextDataset, args: TrainingArguments) -> None:
    """Find one usable clip (a cache entry, or a video long enough); the unusable ones met before it are reported
    (and counted) when training reaches them."""
    reason = ""
    for index in range(len(dataset)):
        try:
            if dataset.cache_dir is None:
                dataset.start_time(index, epoch=0)
            elif not dataset.cache_path(index).is_file():
                raise UnusableClipError(f"no cache entry {dataset.cache_path(index)}")
            return
        except UnusableClipError as error:
            reason = reason or str(error)
    raise ValueError(
        f"--train_data_dir / --captions_file: none of the {len(dataset)} clips is usable (the first: {reason}); "
        f"check the videos, --num_frames {args.num_frames} and --fps {args.fps}"
    )


def build_dataset(args: TrainingArguments) -> VideoTextDataset:
    """The training data set of ``args``, after the checks of this module (an extractor that cannot be built, e.g.
    ``sketch`` without weights, is a ``ValueError`` naming the option)."""
    if not Path(args.train_data_dir).is_dir():
        raise ValueError(f"--train_data_dir: {args.train_data_dir!r} is not a folder")
    try:
        read_captions(args.captions_file, args.video_column, args.caption_column)
    except ValueError as error:
        raise ValueError(f"--captions_file / --video_column / --caption_column: {error}") from error
    if args.conditions_cache_dir is not None:
        check_cache_settings(args)
    else:
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
    check_pretrained_model(args.pretrained_model_name_or_path)
    check_output_folder(args.output_dir, "--output_dir")  # a writable folder, or one that can be made
    options = {name: getattr(args, name) for name in DATASET_OPTIONS}
    dataset = VideoTextDataset(args.train_data_dir, args.captions_file, cache_dir=args.conditions_cache_dir, **options)
    check_usable_clip(dataset, args)
    return dataset
