import av
import cv2
import numpy as np
import PIL.Image
import pytest
import torch

from videocomposer.motion import Stroke, flow_to_color, strokes_to_motion_vectors
from videocomposer.visualize import condition_grid, fill_macroblocks, save_video

F, H, W = 4, 32, 48


def _video(seed=0, frames=F, height=H, width=W):
    return np.random.default_rng(seed).random((frames, height, width, 3)).astype(np.float32)


def _smooth_video(frames=F, height=H, width=W):
    """Gradients that move over time: content a lossy codec keeps (unlike pixel noise)."""
    f, y, x = np.meshgrid(np.arange(frames), np.linspace(0, 1, height), np.linspace(0, 1, width), indexing="ij")
    return np.stack([x, y, (x + f / frames) % 1.0], axis=-1).astype(np.float32)


def _uint8(video):
    return np.round(video * 255).astype(np.uint8)


def test_grid_shape_and_tile_order_without_labels():
    generated, source = _video(0), _video(1)
    sketch = torch.rand(1, 1, F, 48, 72)  # conditions at 1.5x, as the extractors make them
    motion = strokes_to_motion_vectors([Stroke([(4, 4), (40, 28)], radius=20)], F, H, W)
    grid = condition_grid(generated[None], {"sketch": sketch, "motion_vectors": motion}, source=source, labels=False)
    # source | motion | sketch | generated, all 32 high, widths keep the 3:2 aspect ratio
    assert grid.shape == (F, H, 4 * W, 3) and grid.dtype == np.uint8
    np.testing.assert_array_equal(grid[..., :W, :], _uint8(source))
    np.testing.assert_array_equal(grid[..., 3 * W :, :], _uint8(generated))
    expected_sketch = np.stack(
        [cv2.resize(_uint8(sketch[0, 0, f].numpy()), (W, H), interpolation=cv2.INTER_AREA) for f in range(F)]
    )
    np.testing.assert_array_equal(grid[..., 2 * W : 3 * W, 0], expected_sketch)
    assert (grid[..., 2 * W : 3 * W, 0] == grid[..., 2 * W : 3 * W, 2]).all()  # grey


def test_motion_tile_is_the_colour_wheel_of_the_block_filled_field():
    motion = strokes_to_motion_vectors([Stroke([(4, 4), (40, 28)], radius=20)], F, H, W)
    grid = condition_grid(_video(), {"motion_vectors": motion}, labels=False)
    field = fill_macroblocks(motion[0].numpy())
    largest = np.hypot(field[0], field[1]).max()
    for f in range(F):
        # exact: same kernels, same shapes, one process
        np.testing.assert_array_equal(grid[f, :, :W], flow_to_color(field[:, f], max_radius=largest))
    assert (grid[0, :, :W] == 255).all()  # first frame has no motion: white
    assert (grid[1, :, :W] != 255).any()


def test_fill_macroblocks_spreads_each_vector_over_its_block():
    field = np.zeros((2, 1, 20, 40))
    field[:, 0, 8, 8] = [3.0, -1.0]
    field[:, 0, 8, 24] = [0.5, 0.0]
    field[:, 0, 10, 20] = [1.0, 1.0]  # shares the block of (24, 8) and is longer
    filled = fill_macroblocks(field)
    assert filled.shape == field.shape
    assert (filled[:, 0, :16, :16] == np.array([3.0, -1.0])[:, None, None]).all()
    assert (filled[:, 0, :16, 16:32] == np.array([1.0, 1.0])[:, None, None]).all()  # the longest vector wins
    assert (filled[:, 0, 16:] == 0).all() and (filled[:, 0, :, 32:] == 0).all()


def test_depth_tile_uses_the_inferno_colour_map_scaled_by_the_clip_maximum():
    depth = torch.zeros(1, 1, F, H, W)
    depth[0, 0, :, :, W // 2 :] = 2.5
    grid = condition_grid(_video(), {"depth": depth}, labels=False)
    inferno = cv2.cvtColor(cv2.applyColorMap(np.array([[0, 255]], np.uint8), cv2.COLORMAP_INFERNO), cv2.COLOR_BGR2RGB)
    assert grid[0, 5, 2].tolist() == inferno[0, 0].tolist()
    assert grid[0, 5, W - 3].tolist() == inferno[0, 1].tolist()


def test_masked_video_shows_the_hole_black_and_mask_white():
    video = torch.full((1, 3, F, H, W), 0.6)
    mask = torch.zeros(1, 1, F, H, W)
    mask[..., :, : W // 2] = 1.0
    grid = condition_grid(_video(), {"masked_video": video, "mask": mask}, labels=False)
    masked_tile, mask_tile = grid[:, :, :W], grid[:, :, W : 2 * W]
    assert (masked_tile[:, :, : W // 2] == 0).all() and (masked_tile[:, :, W // 2 :] == 153).all()
    assert (mask_tile[:, :, : W // 2] == 255).all() and (mask_tile[:, :, W // 2 :] == 0).all()


def test_single_frame_condition_is_shown_on_every_frame_and_height_is_honoured():
    image = torch.rand(1, 3, 1, 48, 72)
    grid = condition_grid(_video(), {"image": image}, height=16, labels=False)
    assert grid.shape == (F, 16, 24 + 24, 3)
    assert all((grid[f, :, :24] == grid[0, :, :24]).all() for f in range(F))


def test_labels_are_drawn_in_the_top_left_corner_of_every_tile():
    kwargs = dict(frames=_video(), conditions={"sketch": torch.rand(1, 1, F, H, W)}, source=_video(1))
    plain, labelled = condition_grid(**kwargs, labels=False), condition_grid(**kwargs, labels=True)
    changed = np.any(plain != labelled, axis=(0, 3))  # (H, total width)
    for tile in range(3):
        assert changed[:8, tile * W : tile * W + 20].any()  # the label band
        assert not changed[H // 2 :, tile * W : (tile + 1) * W].any()  # the rest untouched


def test_frames_in_pil_and_pt_formats_give_the_same_grid():
    video = _video()
    expected = condition_grid(video, labels=False)
    pil = [PIL.Image.fromarray(frame) for frame in _uint8(video)]
    # exact: same kernels, same shapes, one process
    np.testing.assert_array_equal(condition_grid([pil], labels=False), expected)
    pt = torch.from_numpy(video).permute(0, 3, 1, 2)[None]
    # exact: same kernels, same shapes, one process
    np.testing.assert_array_equal(condition_grid(pt, labels=False), expected)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (dict(conditions={"edge_map": torch.zeros(1, 1, F, H, W)}), ValueError, r"unknown names \[.edge_map.\]"),
        (dict(conditions={"sketch": torch.full((1, 1, F, H, W), 2.0)}), ValueError, r"`sketch` has to be in \[0, 1\]"),
        (dict(conditions={"depth": torch.zeros(1, 2, F, H, W)}), ValueError, r"'depth'.*\(1, 1, F, H, W\)"),
        (dict(conditions={"mask": torch.zeros(2, 1, F, H, W)}), ValueError, r"'mask'.*batch of 1"),
        (dict(conditions={"depth": torch.zeros(1, 1, 3, H, W)}), ValueError, "depth: has 3 frames"),
        (dict(conditions={"depth": [[0.0]]}), TypeError, "expected a tensor or numpy array"),
        (dict(source=_video(frames=2)), ValueError, "source: has 2 frames"),
        (dict(height=1), ValueError, "height must be an integer >= 2"),
    ],
)
def test_bad_grid_inputs_raise_naming_the_item(kwargs, error, message):
    with pytest.raises(error, match=message):
        condition_grid(_video(), **kwargs)


def test_a_batch_of_videos_is_rejected():
    with pytest.raises(ValueError, match="frames: expected one video, got a batch of 2"):
        condition_grid(np.stack([_video(), _video()]))


def test_save_video_writes_a_readable_mp4(tmp_path):
    grid = condition_grid(_smooth_video(), source=_smooth_video()[::-1])
    path = save_video(grid, tmp_path / "grid.mp4", fps=8)
    with av.open(str(path)) as container:
        decoded = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
        rate = container.streams.video[0].average_rate
    assert len(decoded) == F and decoded[0].shape == grid.shape[1:]
    assert rate == 8
    assert np.abs(decoded[1].astype(int) - grid[1]).mean() < 8  # lossy, but the same picture
    assert [p.name for p in tmp_path.iterdir()] == ["grid.mp4"]  # no temporary file left


def test_save_video_writes_a_readable_gif(tmp_path):
    frames = [PIL.Image.fromarray(frame) for frame in _uint8(_smooth_video())]
    path = save_video(frames, tmp_path / "grid.gif", fps=4)
    with PIL.Image.open(path) as image:
        assert image.n_frames == F and image.size == (W, H)
        assert image.info["duration"] == 250
        image.seek(2)
        assert np.abs(np.asarray(image.convert("RGB")).astype(int) - np.asarray(frames[2])).mean() < 8
    assert [p.name for p in tmp_path.iterdir()] == ["grid.gif"]


def test_save_video_rejects_bad_paths(tmp_path):
    with pytest.raises(ValueError, match=r"path must end in one of \('.mp4', '.gif'\)"):
        save_video(_video(), tmp_path / "grid.avi")
    with pytest.raises(FileNotFoundError, match="output folder does not exist"):
        save_video(_video(), tmp_path / "missing" / "grid.mp4")
    with pytest.raises(ValueError, match="fps must be > 0"):
        save_video(_video(), tmp_path / "grid.gif", fps=0)
