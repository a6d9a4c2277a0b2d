"""Drawing boxes and labels: colours, copies, label placement at the edges, bad inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from yoloforge.utils.annotate import PALETTE, class_color, default_line_width, draw_boxes


def _img(h: int = 120, w: int = 160) -> np.ndarray:
    return np.full((h, w, 3), 40, np.uint8)


def test_class_color_is_fixed_and_repeats() -> None:
    assert len(set(PALETTE)) == len(PALETTE) >= 16
    for i in range(3 * len(PALETTE)):
        c = class_color(i)
        assert len(c) == 3 and all(isinstance(v, int) and 0 <= v <= 255 for v in c)
        assert c == class_color(i + len(PALETTE))
    assert class_color(0) != class_color(1)


def test_draws_box_edges_in_class_color_on_a_copy() -> None:
    img = _img()
    out = draw_boxes(img, np.array([[20, 30, 100, 90]]), [3], [0.9], {3: "cat"}, line_width=2, show_labels=False)
    assert out.shape == img.shape and out.dtype == np.uint8
    assert (img == 40).all(), "the input image must be left unchanged"
    assert tuple(int(v) for v in out[60, 20]) == class_color(3)  # left edge, halfway down
    assert (out[60, 60] == 40).all()  # the inside is not filled
    assert (out[5, 5] == 40).all() and (out[115, 155] == 40).all()


def test_labels_add_pixels_and_conf_changes_text() -> None:
    box, cls = torch.tensor([[30.0, 40.0, 120.0, 110.0]]), torch.tensor([1.0])
    plain = draw_boxes(_img(), box, cls, None, ["a", "b"], show_labels=False)
    named = draw_boxes(_img(), box, cls, None, ["a", "b"])
    with_conf = draw_boxes(_img(), box, cls, torch.tensor([0.5]), ["a", "b"])
    no_conf = draw_boxes(_img(), box, cls, torch.tensor([0.5]), ["a", "b"], show_conf=False)
    assert (named != plain).any(axis=2).sum() > 0
    assert (with_conf != plain).any(axis=2).sum() > (named != plain).any(axis=2).sum()
    assert np.array_equal(no_conf, named)


@pytest.mark.parametrize("box", [[0, 0, 160, 120], [150, 110, 160, 120], [-20, -20, 5, 5]])
def test_boxes_at_and_past_the_edges_do_not_fail(box: list[int]) -> None:
    out = draw_boxes(_img(), [box], [7], [0.42], {7: "a rather long class name"})
    assert out.shape == (120, 160, 3)
    assert (out != 40).any()


def test_empty_boxes_give_an_unchanged_copy() -> None:
    img = _img()
    out = draw_boxes(img, np.zeros((0, 4)), np.zeros(0), np.zeros(0), {})
    assert np.array_equal(out, img) and out is not img


def test_unknown_class_ids_are_labelled_with_the_number() -> None:
    out = draw_boxes(_img(), [[10, 50, 60, 100]], [99], None, None)
    assert (out != 40).any()


def test_default_line_width_scales() -> None:
    assert default_line_width((160, 160)) == 1
    assert default_line_width((480, 640)) == 2
    assert default_line_width((2160, 3840)) > default_line_width((480, 640))


def test_bad_inputs_are_named() -> None:
    with pytest.raises(ValueError, match="HxWx3"):
        draw_boxes(np.zeros((10, 10), np.uint8), [], [], None, {})
    with pytest.raises(ValueError, match="2 boxes but 1 class ids"):
        draw_boxes(_img(), [[0, 0, 1, 1], [0, 0, 2, 2]], [0], None, {})
