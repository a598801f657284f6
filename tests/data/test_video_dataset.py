"""Behaviour of VideoTextDataset, its collate function and the condition cache, on synthetic mp4 files."""

import csv
import json
import os
import shutil

import cv2
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from condition_extractors.base import ConditionExtractor, register_extractor
from videocomposer.data.synthetic import encode_mp4, generate_clip, load_ground_truth, write_dataset
from videocomposer.data.video_dataset import (
    UnusableClipError,
    VideoTextDataset,
    collate_video_text,
    read_captions,
    write_condition_cache,
)

SOURCE_FPS = 8
SOURCE_FRAMES = 24  # 3 s of video


@register_extractor
class GreyExtractor(ConditionExtractor):
    """Test extractor: the grey level of each frame at the video size, so conditions can be checked against frames."""

    name = "test_grey"
    condition = "test"
    outputs = {"grey": 1}
    scale = 1.0

    def extract(self, frames: torch.Tensor) -> torch.Tensor:
        return frames.mean(dim=1, keepdim=True)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    folder = tmp_path_factory.mktemp("synthetic")
    captions = write_dataset(folder, num_clips=3, fps=SOURCE_FPS, num_frames=SOURCE_FRAMES, height=64, width=64)
    return folder, captions


@pytest.fixture
def with_bad_clips(synthetic, tmp_path):
    """The synthetic clips plus, at index 1, a file of garbage bytes and, at index 3, a 2-frame video."""
    folder, captions = synthetic
    for path in folder.glob("*.mp4"):
        shutil.copy(path, tmp_path / path.name)
    (tmp_path / "garbage.mp4").write_bytes(os.urandom(4096))
    (tmp_path / "short.mp4").write_bytes(encode_mp4(generate_clip(99, num_frames=2).frames, fps=SOURCE_FPS))
    rows = read_captions(captions, "videoid", "name")
    rows = [rows[0], ("garbage", "noise"), rows[1], ("short", "too short"), rows[2]]
    bad_captions = tmp_path / "captions.csv"
    with open(bad_captions, "w", newline="") as f:
        csv.writer(f).writerows([("videoid", "name"), *rows])
    return tmp_path, bad_captions


def _dataset(folder, captions, **kwargs):
    kwargs = dict(num_frames=8, fps=SOURCE_FPS, resolution=64) | kwargs
    return VideoTextDataset(folder, captions, **kwargs)


def test_item_shapes_ranges_and_prompt(synthetic):
    folder, captions = synthetic
    dataset = _dataset(folder, captions, resolution=(32, 48), fps=4.0)
    item = dataset[2]
    assert item["pixel_values"].shape == (8, 3, 32, 48) and item["pixel_values"].dtype == torch.float32
    assert -1.0 <= item["pixel_values"].min() < 0.0 < item["pixel_values"].max() <= 1.0
    assert item["prompt"] == str(load_ground_truth(folder / "train_00000002.npz")["caption"])
    assert item["conditions"] == {} and item["index"] == 2
    assert len(dataset) == 3 and dataset.num_skipped == 0


def test_frames_are_the_source_frames_from_the_start_time(synthetic):
    folder, captions = synthetic
    dataset = _dataset(folder, captions)
    for index in range(3):
        start = dataset.start_time(index)
        assert 0.0 <= start <= SOURCE_FRAMES / SOURCE_FPS - 8 / SOURCE_FPS
        truth = load_ground_truth(folder / f"train_{index:08d}.npz")["frames"].astype(np.float32) / 127.5 - 1.0
        frames = dataset[index]["pixel_values"].permute(0, 2, 3, 1).numpy()
        errors = [np.abs(frames - truth[offset : offset + 8]).mean() for offset in range(SOURCE_FRAMES - 7)]
        first = round(start * SOURCE_FPS)  # the frame nearest to the start time
        assert int(np.argmin(errors)) == first
        assert errors[first] < 0.03  # only codec loss


def test_resize_short_side_then_centre_crop(synthetic):
    folder, captions = synthetic
    dataset = _dataset(folder, captions, resolution=(24, 48))
    frames = dataset[0]["pixel_values"].permute(0, 2, 3, 1).numpy()
    first = round(dataset.start_time(0) * SOURCE_FPS)
    truth = load_ground_truth(folder / "train_00000000.npz")["frames"][first : first + 8]
    # independent computation: area-downscale 64 -> 48 (short side), keep the middle 24 rows
    expected = np.stack([cv2.resize(f, (48, 48), interpolation=cv2.INTER_AREA)[12:36] for f in truth])
    assert np.abs(frames - (expected.astype(np.float32) / 127.5 - 1.0)).mean() < 0.04


def test_start_times_are_seeded_by_seed_epoch_and_index(synthetic):
    folder, captions = synthetic
    a, b = _dataset(folder, captions, seed=3), _dataset(folder, captions, seed=3)
    torch.testing.assert_close(a[1]["pixel_values"], b[1]["pixel_values"], rtol=0, atol=0)
    starts = {(seed, epoch, index): _dataset(folder, captions, seed=seed).start_time(index, epoch)
              for seed in (0, 1) for epoch in (0, 1) for index in (0, 1)}
    again = {key: _dataset(folder, captions, seed=key[0]).start_time(key[2], key[1]) for key in starts}
    assert again == starts and len(set(starts.values())) > 2  # a function of (seed, epoch, index), not a constant
    # on the 1 / fps grid, inside the 24 - 8 + 1 starts of a 24-frame clip
    assert all(float(s * SOURCE_FPS).is_integer() and 0 <= s * SOURCE_FPS <= 16 for s in starts.values())
    # set_epoch draws new windows: take the first epoch whose window starts on another frame
    first_frame = [round(b.start_time(1, epoch) * SOURCE_FPS) for epoch in range(20)]
    epoch = next(e for e in range(1, 20) if first_frame[e] != first_frame[0])
    a.set_epoch(epoch)
    assert a.epoch == epoch and a.start_time(1) == b.start_time(1, epoch=epoch) != b.start_time(1)
    assert not torch.equal(a[1]["pixel_values"], b[1]["pixel_values"])


def test_csv_and_jsonl_captions_give_the_same_items(synthetic, tmp_path):
    folder, captions = synthetic
    rows = read_captions(captions, "videoid", "name")
    jsonl = tmp_path / "captions.jsonl"
    jsonl.write_text("".join(json.dumps({"path": f"{video}.mp4", "caption": text}) + "\n\n" for video, text in rows))
    from_csv = _dataset(folder, captions)
    from_jsonl = _dataset(folder, jsonl, video_column="path", caption_column="caption")
    assert from_jsonl.entries == [(f"{video}.mp4", text) for video, text in rows]
    for index in range(3):
        a, b = from_csv[index], from_jsonl[index]
        assert a["prompt"] == b["prompt"]
        torch.testing.assert_close(a["pixel_values"], b["pixel_values"], rtol=0, atol=0)


def test_missing_caption_column_names_it(synthetic):
    folder, captions = synthetic
    with pytest.raises(ValueError, match=r"no value in column 'caption'.*\['name', 'videoid'\]"):
        VideoTextDataset(folder, captions, caption_column="caption")


def test_corrupt_short_and_missing_videos_are_skipped_counted_and_replaced(with_bad_clips):
    folder, captions = with_bad_clips
    with open(captions, "a") as f:
        f.write("missing,a file that does not exist\n")
    dataset = _dataset(folder, captions)
    with pytest.warns(UserWarning, match="skipping clip") as record:
        items = [dataset[i] for i in range(len(dataset))]
    assert len(record) == 3 and dataset.num_skipped == 3
    assert any("too short" in str(w.message) for w in record)
    assert any("not a readable video" in str(w.message) or "corrupt" in str(w.message) for w in record)
    # each bad clip falls back to the next usable one (the last wraps around to the first)
    assert [item["index"] for item in items] == [0, 2, 2, 4, 4, 0]
    assert [item["prompt"] for item in items][1] == items[2]["prompt"]
    items_again = [dataset[i]["index"] for i in range(len(dataset))]  # no new warning, no double count
    assert items_again == [0, 2, 2, 4, 4, 0] and dataset.num_skipped == 3


def test_skips_in_dataloader_workers_are_counted_in_the_main_process(with_bad_clips):
    folder, captions = with_bad_clips
    dataset = _dataset(folder, captions, resolution=32)
    loader = DataLoader(dataset, batch_size=2, num_workers=2, collate_fn=collate_video_text)
    batches = list(loader)  # the skips happen (and warn) in the worker processes
    assert sum(len(b["prompts"]) for b in batches) == 5
    assert dataset.num_skipped == 2


def test_no_usable_clip_raises(tmp_path):
    (tmp_path / "bad.mp4").write_bytes(b"not a video")
    captions = tmp_path / "captions.csv"
    captions.write_text("videoid,name\nbad,x\n")
    dataset = _dataset(tmp_path, captions)
    with pytest.warns(UserWarning), pytest.raises(RuntimeError, match="no usable clip left"):
        dataset[0]


def test_conditions_are_extracted_from_the_same_frames(synthetic):
    folder, captions = synthetic
    dataset = _dataset(folder, captions, conditions=["test_grey"], resolution=(32, 32))
    item = dataset[1]
    assert set(item["conditions"]) == {"grey"} and item["conditions"]["grey"].shape == (1, 8, 32, 32)
    expected = ((item["pixel_values"] + 1.0) / 2.0).mean(dim=1).unsqueeze(0)
    torch.testing.assert_close(item["conditions"]["grey"], expected, atol=1e-5, rtol=0)


def test_motion_condition_is_the_original_recipe_by_default(synthetic):
    from condition_extractors import extract_conditions

    folder, captions = synthetic
    dataset = _dataset(folder, captions, conditions=["motion"], resolution=32)
    item = dataset[1]
    path, start = str(dataset.video_path(1)), dataset.start_time(1)
    common = dict(num_frames=8, fps=SOURCE_FPS, height=32, width=32, start_time=start, progress=False)
    original = extract_conditions(path, ["motion"], motion={"mode": "original"}, **common)["motion_vectors"][0]
    reencode = extract_conditions(path, ["motion"], motion={"mode": "reencode"}, **common)["motion_vectors"][0]
    assert torch.equal(item["conditions"]["motion_vectors"], original)
    assert not torch.equal(original, reencode)  # 64 px source, 32 px condition: the two recipes differ


def test_collate_batches_frames_prompts_and_conditions(synthetic):
    folder, captions = synthetic
    dataset = _dataset(folder, captions, conditions=["test_grey"], resolution=32)
    items = [dataset[i] for i in range(3)]
    batch = collate_video_text(items)
    assert batch["pixel_values"].shape == (3, 8, 3, 32, 32)
    assert batch["prompts"] == [item["prompt"] for item in items]
    assert batch["conditions"]["grey"].shape == (3, 1, 8, 32, 32)
    torch.testing.assert_close(batch["conditions"]["grey"][2], items[2]["conditions"]["grey"], rtol=0, atol=0)
    assert batch["index"].tolist() == [0, 1, 2]
    items[1]["conditions"] = {}
    with pytest.raises(ValueError, match="different conditions"):
        collate_video_text(items)


def test_cache_round_trip_is_identical_and_resumable(with_bad_clips, tmp_path):
    folder, captions = with_bad_clips
    cache = tmp_path / "cache"
    dataset = _dataset(folder, captions, conditions=["test_grey"], resolution=32)
    with pytest.warns(UserWarning, match="skipping clip"):
        counts = write_condition_cache(dataset, cache, progress=False)
    assert counts == {"written": 3, "existing": 0, "skipped": 2} and dataset.num_skipped == 2
    assert sorted(p.name for p in cache.iterdir()) == [f"train_{i:08d}.safetensors" for i in range(3)]

    cached = _dataset(folder, captions, conditions=["test_grey"], resolution=32, cache_dir=cache)
    for index in (0, 2, 4):
        fresh, stored = dataset[index], cached[index]
        torch.testing.assert_close(stored["conditions"]["grey"], fresh["conditions"]["grey"], rtol=0, atol=0)
        torch.testing.assert_close(stored["pixel_values"], fresh["pixel_values"], rtol=0, atol=0)
    cached.set_epoch(5)  # a cached clip keeps the window its conditions were made from
    torch.testing.assert_close(cached[2]["pixel_values"], dataset[2]["pixel_values"], rtol=0, atol=0)

    mtimes = {p.name: p.stat().st_mtime_ns for p in cache.iterdir()}
    (cache / "train_00000001.safetensors").unlink()
    again = _dataset(folder, captions, conditions=["test_grey"], resolution=32)
    with pytest.warns(UserWarning):
        assert write_condition_cache(again, cache, progress=False) == {"written": 1, "existing": 2, "skipped": 2}
    for name in ("train_00000000.safetensors", "train_00000002.safetensors"):
        assert (cache / name).stat().st_mtime_ns == mtimes[name]
    assert not [p for p in cache.iterdir() if p.name.startswith(".")]


def test_cache_written_with_other_settings_is_refused(synthetic, tmp_path):
    folder, captions = synthetic
    dataset = _dataset(folder, captions, conditions=["test_grey"], resolution=32)
    write_condition_cache(dataset, tmp_path, progress=False)
    other = _dataset(folder, captions, conditions=["test_grey"], resolution=48, cache_dir=tmp_path)
    with pytest.raises(ValueError, match="other settings.*'height': \\('32', '48'\\)"):
        other[0]


def test_missing_cache_entry_is_skipped(synthetic, tmp_path):
    folder, captions = synthetic
    dataset = _dataset(folder, captions, conditions=["test_grey"], resolution=32)
    write_condition_cache(dataset, tmp_path, progress=False)
    (tmp_path / "train_00000000.safetensors").unlink()
    cached = _dataset(folder, captions, conditions=["test_grey"], resolution=32, cache_dir=tmp_path)
    with pytest.warns(UserWarning, match="no cache entry"):
        assert cached[0]["index"] == 1
    assert cached.num_skipped == 1


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(resolution=(32,)), ValueError, "resolution must be"),
        (dict(resolution=1), ValueError, "resolution must be"),
        (dict(resolution=32.0), ValueError, "resolution must be"),
        (dict(fps=0), ValueError, "fps must be a positive number"),
        (dict(num_frames=0), ValueError, "num_frames must be a positive int"),
        (dict(conditions=["no_such_extractor"]), ValueError, "unknown extractor names \\['no_such_extractor'\\]"),
        (dict(conditions="test_grey"), ValueError, "conditions must be a sequence"),
        (dict(conditions=["test_grey"], condition_kwargs={"depth": {}}), ValueError, "condition_kwargs keys"),
        (dict(conditions=["test_grey"], condition_kwargs={"test_grey": 3}), TypeError, "must be a dict"),
        (dict(cache_dir="."), ValueError, "cache_dir is given but conditions is empty"),
        (dict(video_extension="mp4"), ValueError, "video_extension must start with '.'"),
    ],
)
def test_bad_arguments_raise(synthetic, kwargs, error, match):
    folder, captions = synthetic
    with pytest.raises(error, match=match):
        _dataset(folder, captions, **kwargs)


def test_bad_captions_files_raise(tmp_path):
    with pytest.raises(ValueError, match="captions_file must end in one of"):
        VideoTextDataset(tmp_path, tmp_path / "captions.txt")
    with pytest.raises(ValueError, match="no such file"):
        VideoTextDataset(tmp_path, tmp_path / "captions.csv")
    (tmp_path / "empty.csv").write_text("videoid,name\n")
    with pytest.raises(ValueError, match="lists no videos"):
        VideoTextDataset(tmp_path, tmp_path / "empty.csv")
    (tmp_path / "list.jsonl").write_text("[1, 2]\n")
    with pytest.raises(ValueError, match="each JSONL line must be an object"):
        VideoTextDataset(tmp_path, tmp_path / "list.jsonl")


@pytest.mark.parametrize(
    ("source_fps", "source_frames", "num_starts"),
    [
        (25, 65, 3),  # 2.6 s: round(2.6 * 4) = 10 frames at 4 fps, so 8 of them start at 0, 0.25 or 0.5 s
        (30, 78, 3),  # 2.6 s at another source rate
        (25, 47, 1),  # 1.88 s: round(7.52) = 8, only the start 0
        (24, 45, 1),  # 1.875 s: 7.5 frames round up to 8 (the last slot n = 7 exists: 7 + 1/2 <= 7.5)
        (25, 46, 0),  # 1.84 s: round(7.36) = 7 frames, too short for 8
    ],
)
def test_start_times_are_exactly_the_starts_load_video_can_fill(tmp_path, source_fps, source_frames, num_starts):
    """Real H.264 clips at 8 frames / 4 fps: every drawn start loads, the next one on the grid would not."""
    from condition_extractors.video import load_video

    clip = generate_clip(5, num_frames=source_frames, height=32, width=32)
    (tmp_path / "clip.mp4").write_bytes(encode_mp4(clip.frames, fps=source_fps))
    (tmp_path / "captions.csv").write_text("videoid,name\nclip,a clip\n")
    dataset = VideoTextDataset(tmp_path, tmp_path / "captions.csv", num_frames=8, fps=4, resolution=32)
    path = str(tmp_path / "clip.mp4")
    for k in range(num_starts):
        assert load_video(path, num_frames=8, fps=4, start_time=k / 4).shape[0] == 8
    with pytest.raises(ValueError, match="fewer than num_frames|frames"):
        load_video(path, num_frames=8, fps=4, start_time=num_starts / 4)
    if num_starts == 0:
        with pytest.raises(UnusableClipError, match=r"1.84 s is too short for num_frames=8 at fps=4.0 \(it needs 1.88"):
            dataset.start_time(0)
        return
    drawn = {dataset.start_time(0, epoch) for epoch in range(40)}
    assert drawn == {k / 4 for k in range(num_starts)}
    for epoch in range(6):  # never dropped as "too short", whatever the epoch draws
        dataset.set_epoch(epoch)
        assert dataset[0]["pixel_values"].shape == (8, 3, 32, 32)
    assert dataset.num_skipped == 0


def test_a_pickled_dataset_leaves_its_extractors_behind(synthetic):
    import pickle

    folder, captions = synthetic
    dataset = _dataset(folder, captions, conditions=["test_grey"])
    _ = dataset[0]  # the first item builds the extractors
    built = dataset._extractors
    assert [type(e) for e in built] == [GreyExtractor] and dataset._extractors is built  # built once
    copy = pickle.loads(pickle.dumps(dataset))
    assert "_extractors" not in vars(copy)  # a DataLoader worker builds its own
    assert [type(e) for e in copy._extractors] == [GreyExtractor] and copy._extractors is not built


def test_a_negative_index_counts_from_the_end(synthetic):
    folder, captions = synthetic
    dataset = _dataset(folder, captions)
    assert dataset[-1]["index"] == len(dataset) - 1
    torch.testing.assert_close(dataset[-len(dataset)]["pixel_values"], dataset[0]["pixel_values"], rtol=0, atol=0)
    with pytest.raises(IndexError, match="out of range"):
        _ = dataset[-len(dataset) - 1]
