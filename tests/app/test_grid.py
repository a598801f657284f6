"""The app's condition grid: strokes over the motion tile, colour-wheel legend, preview without generated frames."""

import numpy as np

from videocomposer.app.grid import POSITION_COLOUR, colour_wheel_legend, labelled_legend, stroke_grid, tile_width
from videocomposer.motion import Stroke, StrokeSet, flow_to_color, strokes_to_motion_vectors, strokes_to_trajectories
from videocomposer.visualize import condition_grid

F, H, W, TILE = 4, 32, 48, 64


def strokes_on_canvas() -> StrokeSet:
    return StrokeSet([Stroke([(20.0, 100.0), (90.0, 60.0), (180.0, 30.0)], radius=40.0)], 192, 128)


def motion(strokes: StrokeSet) -> dict:
    on_video = strokes.scaled_to(W, H).strokes
    return {"motion_vectors": strokes_to_motion_vectors(on_video, F, H, W)}


def test_legend_colours_are_the_flow_colours_of_their_offsets():
    legend = colour_wheel_legend(33)
    assert legend.shape == (33, 33, 3)
    np.testing.assert_array_equal(legend[16, 16], [255, 255, 255])  # the centre: still
    for y, x in ((16, 31), (2, 16), (25, 7)):
        expected = flow_to_color(np.array([[[(x - 16) / 16]], [[(y - 16) / 16]]]), max_radius=1.0)[0, 0]
        np.testing.assert_allclose(legend[y, x], expected, rtol=0, atol=1)  # uint8 from float: 1 level (other shapes)
    np.testing.assert_array_equal(legend[0, 0], [0, 0, 0])  # outside the wheel


def test_stroke_grid_draws_the_path_and_appends_the_legend():
    strokes = strokes_on_canvas()
    frames = np.zeros((F, H, W, 3), np.uint8)
    conditions = motion(strokes)
    plain = condition_grid(frames, conditions, height=TILE)
    grid = stroke_grid(frames, conditions, strokes, height=TILE)
    assert grid.shape == (F, TILE, plain.shape[2] + TILE, 3)
    np.testing.assert_array_equal(
        grid[:, :, plain.shape[2] :], np.broadcast_to(labelled_legend(TILE), (F, TILE, TILE, 3))
    )
    width = tile_width(H, W, TILE)
    assert width == 96
    path = strokes_to_trajectories(strokes.strokes, F)[0] * [(width - 1) / 191, (TILE - 1) / 127]
    for f in range(F):
        x, y = np.round(path[f]).astype(int)
        np.testing.assert_array_equal(grid[f, y, x], POSITION_COLOUR)  # the dot of the current frame
    changed = np.any(grid[:, :, : plain.shape[2]] != plain, axis=-1)
    assert changed[:, :, :width].any() and not changed[:, :, width:].any()  # drawn on the motion tile only


def test_stroke_grid_with_a_source_shifts_the_overlay_and_preview_drops_the_generated_tile():
    strokes = strokes_on_canvas()
    conditions = motion(strokes)
    source = np.full((F, H, W, 3), 90, np.uint8)
    frames = np.zeros((F, H, W, 3), np.uint8)
    plain = condition_grid(frames, conditions, source=source, height=TILE)
    grid = stroke_grid(frames, conditions, strokes, source=source, height=TILE)
    np.testing.assert_array_equal(grid[:, :, :96], plain[:, :, :96])  # the source tile is untouched
    preview = stroke_grid(None, conditions, strokes, source=source, height=TILE)
    np.testing.assert_array_equal(preview[:, :, : 2 * 96], grid[:, :, : 2 * 96])
    assert preview.shape[2] == 2 * 96 + TILE  # source, motion, legend
    no_motion = stroke_grid(frames, {}, None, height=TILE)
    np.testing.assert_array_equal(no_motion, condition_grid(frames, {}, height=TILE))


def test_labelled_legend_has_the_wheel_and_the_four_directions():
    legend = labelled_legend(128)
    assert legend.shape == (128, 128, 3) and legend.dtype == np.uint8
    # the wheel, centred, is exactly colour_wheel_legend of some size that leaves margins for the words
    sizes = [w for w in range(3, 129)
             if np.array_equal(legend[(128 - w) // 2 : (128 - w) // 2 + w, (128 - w) // 2 : (128 - w) // 2 + w],
                               colour_wheel_legend(w))]  # fmt: skip
    assert len(sizes) == 1 and 40 <= sizes[0] <= 100
    margin = (128 - sizes[0]) // 2
    outside = legend.copy()
    outside[margin : margin + sizes[0], margin : margin + sizes[0]] = 0
    white = np.all(outside > 128, axis=-1)  # the words: white on black, only in the margins
    assert white[:margin].any() and white[margin + sizes[0] :].any()  # up, down
    assert white[:, :margin].any() and white[:, margin + sizes[0] :].any()  # left, right
