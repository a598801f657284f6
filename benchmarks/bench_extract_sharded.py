"""Throughput of `videocomposer extract --dataset` with 1 and with N CPU processes (`torchrun`, gloo), same dataset.

A synthetic dataset (videocomposer.data.synthetic) of ``--clips`` clips is written once; then, alternating, ``--rounds``
times each: ``torchrun --nproc_per_node 1`` and ``--nproc_per_node N`` extract its conditions into a fresh cache
(one torch thread per process), and run again on that complete cache: the resumed run, which finds every entry and
only starts up (imports, process group) and writes the index, is the fixed cost. Reported per setting (median over
rounds): wall seconds of the full run and of the resumed run, clips per second of extraction proper (full minus
resumed), and the CPU seconds of all its processes (children's user + system time); the ratio is the N-process
extraction throughput over the 1-process one, measured back to back in the same run. The caches are compared: same
files, same tensors, same metadata, same index.json.

Usage: python benchmarks/bench_extract_sharded.py [--clips 24 --processes 2 --rounds 2 --write-results]
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from results_file import write_section

ROOT = Path(__file__).resolve().parents[1]
HEADING = "## bench_extract_sharded"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def extract(processes: int, dataset: Path, cache: Path, args: argparse.Namespace) -> tuple[float, float]:
    """Wall and CPU seconds (all processes) of one sharded extraction into ``cache``."""
    command = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", str(processes),
               "--master_addr", "127.0.0.1", "--master_port", str(free_port()), "-m", "videocomposer.cli", "extract",
               "--dataset", str(dataset), "--captions-file", str(dataset / "captions.csv"), "--conditions",
               *args.conditions, "--frames", str(args.frames), "--height", str(args.size), "--width", str(args.size),
               "--cache", str(cache)]  # fmt: skip
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", CUDA_VISIBLE_DEVICES="")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, env=env, check=True, capture_output=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def same_cache(first: Path, second: Path) -> bool:
    from safetensors import safe_open

    names = sorted(p.name for p in first.iterdir())
    if names != sorted(p.name for p in second.iterdir()):
        return False
    for name in names:
        if name == "index.json":
            if (first / name).read_bytes() != (second / name).read_bytes():
                return False
            continue
        with safe_open(str(first / name), "pt") as a, safe_open(str(second / name), "pt") as b:
            if a.metadata() != b.metadata() or sorted(a.keys()) != sorted(b.keys()):
                return False
            if any(not (a.get_tensor(k) == b.get_tensor(k)).all() for k in a.keys()):
                return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=24, help="clips in the synthetic dataset")
    parser.add_argument("--processes", type=int, default=2, help="processes of the sharded run")
    parser.add_argument("--rounds", type=int, default=2, help="runs of each setting, alternating")
    parser.add_argument("--frames", type=int, default=16, help="frames per clip (sampled at 4 fps)")
    parser.add_argument("--size", type=int, default=256, help="video size (canny runs at 1.5x)")
    parser.add_argument("--conditions", nargs="+", default=["motion", "canny"], help="extractor names")
    parser.add_argument("--write-results", action="store_true", help="write the table into benchmarks/RESULTS.md")
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT))
    from videocomposer.data.synthetic import write_dataset

    work = Path(tempfile.mkdtemp(prefix="bench_extract_sharded."))
    try:
        dataset = work / "data"
        write_dataset(dataset, num_clips=args.clips, seed=0, fps=8, num_frames=8 * args.frames // 4 + 8,
                      height=args.size, width=args.size)  # fmt: skip
        results: dict[int, list[tuple[float, float, float]]] = {1: [], args.processes: []}
        for round_index in range(args.rounds):
            for processes in (1, args.processes):
                cache = work / f"cache-{processes}-{round_index}"
                wall, cpu = extract(processes, dataset, cache, args)
                resumed, _ = extract(processes, dataset, cache, args)
                results[processes].append((wall, resumed, cpu))
                print(f"round {round_index}: {processes} process(es): {wall:.1f} s wall ({resumed:.1f} s resumed), "
                      f"{cpu:.1f} s CPU", flush=True)  # fmt: skip
        identical = all(same_cache(work / "cache-1-0", work / f"cache-{p}-{r}") for p in results for r in
                        range(args.rounds))  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)

    wall = {p: statistics.median(run[0] for run in runs) for p, runs in results.items()}
    fixed = {p: statistics.median(run[1] for run in runs) for p, runs in results.items()}
    cpu = {p: statistics.median(run[2] for run in runs) for p, runs in results.items()}
    rate = {p: args.clips / max(wall[p] - fixed[p], 1e-9) for p in results}
    lines = [
        "| processes | wall s | resumed (fixed cost) s | clips / s of extraction | CPU s (all processes) | "
        "extraction throughput vs 1 process |",
        "|---|---|---|---|---|---|",
    ]
    for processes in results:
        lines.append(f"| {processes} | {wall[processes]:.1f} | {fixed[processes]:.1f} | {rate[processes]:.2f} | "
                     f"{cpu[processes]:.1f} | {rate[processes] / rate[1]:.2f}x |")  # fmt: skip
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    section = (
        f"### {stamp}, CPU {platform.machine()} ({os.cpu_count()} cores, shared), 1 thread per process\n\n"
        f"`python benchmarks/bench_extract_sharded.py --clips {args.clips} --processes {args.processes} --rounds "
        f"{args.rounds}`: {args.clips} synthetic clips, {args.frames} frames at {args.size}², conditions "
        f"{' '.join(args.conditions)}; median of {args.rounds} alternating runs; extraction rate = clips / (wall - "
        f"resumed wall), the resumed run being start-up (imports, process group) and the index alone.\n\n"
        + "\n".join(lines)
        + f"\n\nCaches identical (tensors, metadata, index.json) across all runs: "
        f"{'yes' if identical else 'NO'}.\n"
    )
    print(f"{HEADING}\n\n{section}")
    if args.write_results:
        write_section(HEADING, section, replace=True)


if __name__ == "__main__":
    main()
