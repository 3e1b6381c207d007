"""The toy world's shapes: distinct silhouettes, holes cut out."""

from localglobal.toyworld.shapes import SHAPES, shape_mask


def test_silhouettes_differ_between_classes():
    masks = [shape_mask(name, (96, 96), (48.0, 48.0), 40.0, 0.0) >= 128 for name in SHAPES]
    for i in range(len(masks)):
        for j in range(i + 1, len(masks)):
            union = (masks[i] | masks[j]).sum()
            iou = (masks[i] & masks[j]).sum() / union
            assert iou < 0.85, (SHAPES[i], SHAPES[j], iou)


def test_holes_are_cut_out():
    ring = shape_mask("ring", (96, 96), (48.0, 48.0), 40.0, 0.0)
    assert ring[48, 48] == 0 and ring[48, 48 + 35] == 255
