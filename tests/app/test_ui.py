"""The app's field checks (messages naming the field) and the display scale of the results."""

import pytest

pytest.importorskip("gradio", reason="the app extra is not installed (gradio)")

from videocomposer.app.ui import (  # noqa: E402
    GRID_ZOOM,
    field_number,
    field_slider,
    guidance_value,
    page_css,
    video_scale,
    whole_number,
)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (None, "Steps is empty: enter a whole number from 1 to 1000"),
        ("", "Steps is empty: enter a whole number from 1 to 1000"),
        (0, "Steps is 0: enter a whole number from 1 to 1000"),
        (1001, "Steps is 1001: enter a whole number from 1 to 1000"),
        (2.5, "Steps is 2.5: enter a whole number from 1 to 1000"),
        (float("nan"), "Steps is nan: enter a whole number from 1 to 1000"),
        ("abc", "Steps: 'abc' is not a number; enter a whole number from 1 to 1000"),
    ],
)
def test_whole_number_names_the_field(value, message):
    with pytest.raises(ValueError) as caught:
        whole_number(value, "Steps", 1, 1000)
    assert str(caught.value) == message


def test_whole_number_accepts_the_range():
    assert whole_number(1, "Steps", 1, 1000) == 1 and whole_number("1000", "Steps", 1, 1000) == 1000
    assert whole_number(7.0, "Frames", 2, 64) == 7


def test_guidance_empty_is_the_model_default_and_bad_values_name_the_field():
    assert guidance_value(None) is None and guidance_value("  ") is None
    assert guidance_value("4.5") == 4.5 and guidance_value(0) == 0.0
    for bad, shown in (("nan", "nan"), ("-1", "-1"), ("31", "31")):
        with pytest.raises(ValueError, match=rf"^Guidance is {shown}: enter a number from 0 to 30, or leave it empty"):
            guidance_value(bad)
    with pytest.raises(ValueError, match="^Guidance: 'x' is not a number"):
        guidance_value("x")


def test_video_is_shown_at_an_integer_nearest_neighbour_scale():
    assert video_scale(64, 64) == 7 and video_scale(256, 256) == 1 and video_scale(1024, 576) == 1
    assert video_scale(96, 64, box=480) == 5
    css = page_css(64, 64)
    assert "#vc-video video { width: 448px !important; height: 448px !important;" in css
    assert css.count("image-rendering: pixelated") == 2
    assert f"#vc-grid video {{ height: {GRID_ZOOM * 128}px !important; }}" in css


@pytest.mark.parametrize("offset", [0, 1])
def test_step_limit_is_the_most_steps_the_scheduler_takes(offset):
    from diffusers import DDIMScheduler

    from pipelines.pipeline_videocomposer import scheduler_step_limit

    scheduler = DDIMScheduler(num_train_timesteps=1000, steps_offset=offset, timestep_spacing="leading")
    limit = scheduler_step_limit(scheduler)
    assert limit == 1000 - offset
    scheduler.set_timesteps(limit)
    assert int(scheduler.timesteps.max()) <= 999  # every step has a training timestep
    if offset:  # one step more puts a step on timestep 1000, past the last (what crashed the app before)
        scheduler.set_timesteps(limit + 1)
        assert int(scheduler.timesteps.max()) == 1000
    else:
        with pytest.raises(ValueError):
            scheduler.set_timesteps(limit + 1)


def test_decimal_fields_and_sliders_reach_the_check_unclamped():
    assert field_number("0.25", "motion scale", 0, 3) == 0.25
    with pytest.raises(ValueError, match=r"^Radius is 999: enter a number from 2 to 256$"):
        field_number(999, "Radius", 2, 256)
    with pytest.raises(ValueError, match=r"^Seed is 4294967296: enter a whole number from 0 to 4294967295$"):
        whole_number(2**32, "Seed", 0, 2**32 - 1)
    slider = field_slider(0, 3, value=1.0)
    assert slider.preprocess(7.0) == 7.0  # gradio's Slider would raise a toast without the field's name
    assert slider.get_block_name() == "slider"
