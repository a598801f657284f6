"""`write_condition_cache(indices=...)` (one process's share) and `write_cache_index` (the merged index)."""

import json

import pytest

from videocomposer.data.synthetic import write_dataset
from videocomposer.data.video_dataset import VideoTextDataset, write_cache_index, write_condition_cache


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("clips")
    write_dataset(root, num_clips=3, seed=0, fps=8, num_frames=16, height=32, width=32)
    return VideoTextDataset(root, root / "captions.csv", num_frames=2, resolution=32, conditions=["canny"])


def test_a_share_writes_only_its_clips_and_the_index_lists_the_rest_as_missing(dataset, tmp_path):
    assert write_condition_cache(dataset, tmp_path, progress=False, indices=[2, 0]) == {
        "written": 2, "existing": 0, "skipped": 0,
    }  # fmt: skip
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train_00000000.safetensors", "train_00000002.safetensors"]
    index = json.loads(write_cache_index(dataset, tmp_path).read_text())
    assert [e["video"] for e in index["entries"]] == ["train_00000000", "train_00000002"]
    assert index["missing"] == ["train_00000001"] and index["num_clips"] == 3
    assert index["settings"] == {"num_frames": 2, "fps": 4.0, "height": 32, "width": 32, "conditions": ["canny"]}
    assert [e["start_time"] for e in index["entries"]] == [
        dataset.start_time(0, epoch=0),
        dataset.start_time(2, epoch=0),
    ]
    assert [e["caption"] for e in index["entries"]] == [dataset.entries[0][1], dataset.entries[2][1]]


def test_shares_that_cover_the_dataset_give_the_whole_cache(dataset, tmp_path):
    write_condition_cache(dataset, tmp_path / "whole", progress=False)
    for share in ([0], [1, 2]):
        write_condition_cache(dataset, tmp_path / "shares", progress=False, indices=share)
    whole = write_cache_index(dataset, tmp_path / "whole").read_bytes()
    assert whole == write_cache_index(dataset, tmp_path / "shares").read_bytes()
    assert json.loads(whole)["missing"] == []


def test_indices_outside_the_dataset_are_refused(dataset, tmp_path):
    with pytest.raises(ValueError, match=r"indices: expected clip indices in \[0, 3\), got \[3\]"):
        write_condition_cache(dataset, tmp_path, progress=False, indices=[0, 3])
    assert not any(tmp_path.glob("*.safetensors"))


def test_a_motion_cache_entry_records_how_its_vectors_were_made(tmp_path):
    from safetensors import safe_open

    from videocomposer.metrics.motion import MotionGeometry

    root = tmp_path / "clips"
    write_dataset(root, num_clips=1, seed=0, fps=8, num_frames=16, height=48, width=32)
    motion = VideoTextDataset(root, root / "captions.csv", num_frames=2, resolution=32, conditions=["motion", "canny"])
    write_condition_cache(motion, tmp_path / "cache", progress=False)
    with safe_open(str(motion.cache_path(0, tmp_path / "cache")), framework="pt") as entry:
        metadata = entry.metadata()
    assert MotionGeometry.from_metadata(metadata) == MotionGeometry("original", 48, 32)  # the coded source size
    assert motion.cache_metadata(0, float(metadata["start_time"])).items() <= metadata.items()
    canny_only = VideoTextDataset(root, root / "captions.csv", num_frames=2, resolution=32, conditions=["canny"])
    write_condition_cache(canny_only, tmp_path / "canny", progress=False)
    with safe_open(str(canny_only.cache_path(0, tmp_path / "canny")), framework="pt") as entry:
        assert MotionGeometry.from_metadata(entry.metadata()) is None
