"""VOC boxes into the model-input frame of the actual (possibly downscaled) image."""

import numpy as np
import pandas as pd
import pytest

from localglobal.data.frame_boxes import boxes_in_frame, group_boxes


def test_boxes_of_another_version_of_the_picture_are_refused():
    voc = np.array([[10, 10, 100, 60]])
    fine = boxes_in_frame(voc, (400, 300), (320, 240), 256, 224)
    assert not fine.problem and fine.scale_x == pytest.approx(0.8)
    rotated = boxes_in_frame(voc, (400, 300), (300, 400), 256, 224)
    assert "not the same picture" in rotated.problem
    unknown = boxes_in_frame(voc, (0, 0), (320, 240), 256, 224)
    assert not unknown.problem and unknown.scale_x == 1.0


def test_a_box_outside_the_crop_is_a_problem():
    frame = boxes_in_frame(np.array([[0, 0, 5, 5]]), (400, 300), (400, 300), 256, 224)
    assert frame.problem == "no box reaches into the model-input frame"


@pytest.mark.parametrize(("xml_size", "shorter"), [((1600, 1200), 320), ((500, 375), 160),
                                                   ((333, 500), 160), ((4000, 3000), 320)])
def test_rounded_downscales_of_any_size_are_accepted(xml_size, shorter):
    xml_width, xml_height = xml_size
    scale = shorter / min(xml_size)
    for rounding in (round, int):
        size = (rounding(xml_width * scale), rounding(xml_height * scale))
        frame = boxes_in_frame(np.array([[0, 0, xml_width - 1, xml_height - 1]]), xml_size,
                               size, 256, 224)
        assert not frame.problem, (size, frame.problem)


def test_boxes_are_grouped_per_image_in_object_order():
    boxes = pd.DataFrame({"image_id": ["b", "a", "b"], "object_index": [1, 0, 0],
                          "width": [10, 20, 10], "height": [5, 6, 5],
                          "xmin": [5.0, 1.0, 0.0], "ymin": [0.0] * 3, "xmax": [9.0, 2.0, 4.0],
                          "ymax": [4.0] * 3})
    groups = group_boxes(boxes, {"a", "b", "c"})
    assert set(groups) == {"a", "b"}
    coords, size = groups["b"]
    assert coords[:, 0].tolist() == [0.0, 5.0] and size == (10, 5)
    assert group_boxes(None, {"a"}) == {} and group_boxes(boxes.iloc[:0], {"a"}) == {}
