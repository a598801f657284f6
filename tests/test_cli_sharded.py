"""`extract --dataset` and `generate --prompts-file` split across 2 gloo processes (`torchrun`, CPU) give the same files
as 1 process."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors import safe_open

from videocomposer.cli import main
from videocomposer.data.synthetic import write_dataset

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def torchrun(argv: list[str], cwd: Path, processes: int = 2) -> str:
    """Run `videocomposer ARGV` under torchrun with ``processes`` CPU processes; returns stdout."""
    command = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", str(processes),
               "--master_addr", "127.0.0.1", "--master_port", str(free_port()), "-m", "videocomposer.cli", *argv]  # fmt: skip
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", CUDA_VISIBLE_DEVICES="")
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def read_entry(path: Path) -> tuple[dict, dict]:
    with safe_open(str(path), framework="pt") as entry:
        return entry.metadata(), {key: entry.get_tensor(key) for key in entry.keys()}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("clips")
    write_dataset(root, num_clips=5, seed=0, fps=8, num_frames=16, height=64, width=64)
    return root


def test_sharded_extraction_writes_the_same_cache_as_one_process(dataset, tmp_path):
    args = ["extract", "--dataset", str(dataset), "--captions-file", str(dataset / "captions.csv"), "--conditions",
            "motion", "canny", "--frames", "4", "--height", "32", "--width", "32", "--cache"]  # fmt: skip
    assert main([*args, str(tmp_path / "one")]) == 0
    printed = torchrun([*args, str(tmp_path / "two")], cwd=tmp_path)
    assert "5 written, 0 existing, 0 skipped (2 processes)" in printed
    one = sorted(p.name for p in (tmp_path / "one").iterdir())
    assert one == sorted(p.name for p in (tmp_path / "two").iterdir())
    assert len(one) == 6 and "index.json" in one  # 5 entries, no temporaries left
    for name in one:
        if name == "index.json":
            assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()
            continue
        metadata_one, tensors_one = read_entry(tmp_path / "one" / name)
        metadata_two, tensors_two = read_entry(tmp_path / "two" / name)
        assert metadata_one == metadata_two  # (safetensors orders metadata keys differently per process)
        assert tensors_one.keys() == tensors_two.keys()
        assert all((tensors_one[k] == tensors_two[k]).all() for k in tensors_one)
    index = json.loads((tmp_path / "one" / "index.json").read_text())
    assert [e["video"] for e in index["entries"]] == [f"train_{i:08d}" for i in range(5)] and index["missing"] == []

    # Resumable: a lost entry is the only one written again.
    (tmp_path / "two" / one[1]).unlink()
    assert "1 written, 4 existing, 0 skipped (2 processes)" in torchrun([*args, str(tmp_path / "two")], cwd=tmp_path)
    assert read_entry(tmp_path / "two" / one[1])[0] == read_entry(tmp_path / "one" / one[1])[0]


def test_sharded_batch_generation_writes_the_same_videos_as_one_process(tmp_path):
    rows = [{"prompt": "a red circle moving right", "seed": 1}, {"prompt": "a blue square", "output": "blue.gif"},
            {"prompt": "a green triangle moving up", "seed": 3}]  # fmt: skip
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(json.dumps(row) + "\n" for row in rows))
    args = ["generate", "--prompts-file", str(prompts), "--steps", "2", "--frames", "4", "--output-dir"]
    assert main([*args, str(tmp_path / "one")]) == 0
    printed = torchrun([*args, str(tmp_path / "two")], cwd=tmp_path)
    assert "3 written, 0 existing (2 processes)" in printed
    names = sorted(p.name for p in (tmp_path / "one").iterdir())
    assert names == ["00000.mp4", "00002.mp4", "blue.gif"]
    assert names == sorted(p.name for p in (tmp_path / "two").iterdir())
    for name in names:
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()
    assert "0 written, 3 existing (2 processes)" in torchrun([*args, str(tmp_path / "two")], cwd=tmp_path)


def test_processes_that_did_not_form_one_group_are_refused(monkeypatch):
    from accelerate import PartialState

    from videocomposer.commands._processes import process_state

    assert process_state().num_processes == 1  # no launcher: one process
    assert PartialState().num_processes == 1
    monkeypatch.setenv("WORLD_SIZE", "2")  # a launcher started 2 processes, but this one is alone
    with pytest.raises(ValueError, match="WORLD_SIZE=2 but the processes formed a group of 1; launch with"):
        process_state()
