"""Metrics for generated videos, one module per family; each works on ``(F, H, W, 3)`` uint8 or [0, 1] float frames.

Weight-free: control fidelity (``control``: centroids, mask IoU), warping error and seam discontinuity (``warping``),
VBench temporal flickering (``flicker``), repetition over frame distance (``repetition``), codec motion-vector and
optical-flow motion error (``motion``). With user-provided weights: CLIP frame consistency and text similarity
(``clip``), DINO subject consistency (``dino``), RAFT flow and dynamic degree (``flow``), FVD video features (``fvd``),
FID frame features (``fid``); FVD and FID share :func:`frechet_distance` and the streaming :class:`FeatureStatistics`.
"""

from .clip import ClipEncoder, clip_frame_consistency, clip_text_similarity, clipsim
from .consistency import consecutive_similarity, first_and_previous_similarity
from .control import centroid_error, color_mask, mask_centroids, mask_iou
from .dino import DinoEncoder, subject_consistency
from .fid import FrameFeatures
from .flicker import frame_difference, temporal_flickering
from .flow import RaftFlow, dynamic_decision, dynamic_interval, is_dynamic, pair_motion
from .frechet import FeatureStatistics, frechet_distance
from .fvd import VideoFeatures
from .jumps import Jump, centroid_steps, content_steps, jump_ratio, steps_of_thumbnails
from .motion import MotionGeometry, backward_flows, condition_blocks, flow_error, motion_vector_error
from .reference import Lpips, frame_psnr, frame_ssim, psnr, ssim
from .repetition import RepetitionPeak, profile_of_thumbnails, repetition_peak, self_similarity_profile, thumbnails
from .warping import (
    farneback_flow,
    farneback_flows,
    lai_pair_errors,
    mean_abs_warping_error,
    occlusion_mask,
    pair_flows,
    pairwise_warping_errors,
    seam_discontinuity,
    seam_ratio,
    warp,
    warping_error,
)

__all__ = [
    "ClipEncoder",
    "DinoEncoder",
    "FeatureStatistics",
    "FrameFeatures",
    "Jump",
    "Lpips",
    "MotionGeometry",
    "RaftFlow",
    "RepetitionPeak",
    "VideoFeatures",
    "backward_flows",
    "centroid_error",
    "centroid_steps",
    "clip_frame_consistency",
    "clip_text_similarity",
    "clipsim",
    "condition_blocks",
    "color_mask",
    "consecutive_similarity",
    "content_steps",
    "dynamic_decision",
    "dynamic_interval",
    "farneback_flow",
    "farneback_flows",
    "first_and_previous_similarity",
    "flow_error",
    "frame_difference",
    "frame_psnr",
    "frame_ssim",
    "frechet_distance",
    "is_dynamic",
    "jump_ratio",
    "lai_pair_errors",
    "mask_centroids",
    "mask_iou",
    "mean_abs_warping_error",
    "motion_vector_error",
    "occlusion_mask",
    "pair_flows",
    "pair_motion",
    "pairwise_warping_errors",
    "profile_of_thumbnails",
    "psnr",
    "repetition_peak",
    "seam_discontinuity",
    "seam_ratio",
    "self_similarity_profile",
    "ssim",
    "steps_of_thumbnails",
    "subject_consistency",
    "temporal_flickering",
    "thumbnails",
    "warp",
    "warping_error",
]
