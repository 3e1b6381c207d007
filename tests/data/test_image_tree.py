"""Finding images and checking them: bad ones said why, bombs refused by Pillow's limit."""

import errno

import numpy as np
import pytest
from PIL import Image

from localglobal.data import image_tree
from localglobal.data.image_tree import check_image, check_images, image_ref
from localglobal.errors import MissingInputError
from localglobal.labels import get_label_space


def write_jpeg(path, size=(40, 30), mode="RGB"):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size[1], size[0], 3), 128, np.uint8)).convert(mode).save(
        path, format="JPEG")
    return path


def test_scanning_keeps_the_label_spaces_classes_and_lists_the_rest(tmp_path):
    write_jpeg(tmp_path / "train" / "n01440764" / "n01440764_1.JPEG")
    write_jpeg(tmp_path / "train" / "n01440764" / "n01440764_2.jpg")
    write_jpeg(tmp_path / "val" / "n01440764" / "n01440764_1.JPEG")  # a duplicate id
    write_jpeg(tmp_path / "train" / "n09999999" / "x.JPEG")
    (tmp_path / "train" / "n01440764" / "notes.txt").write_text("not an image")
    tree = image_tree.scan_images(tmp_path, ["train", "val"], [".jpeg", ".jpg"],
                                  get_label_space("imagenette"))
    assert tree.images["image_id"].tolist() == ["n01440764_1", "n01440764_2"]
    assert tree.outside_label_space == ["n09999999"]
    assert [d["image_id"] for d in tree.duplicates] == ["n01440764_1"]
    assert len(tree.missing_classes) == 9
    with pytest.raises(MissingInputError, match="image root not found"):
        image_tree.scan_images(tmp_path / "nowhere", ["train"], [".jpeg"],
                               get_label_space("imagenette"))


def test_good_unusual_and_broken_images(tmp_path):
    good = write_jpeg(tmp_path / "good.JPEG")
    cmyk = write_jpeg(tmp_path / "cmyk.JPEG", mode="CMYK")
    truncated = tmp_path / "truncated.JPEG"
    truncated.write_bytes(good.read_bytes()[:200])
    junk = tmp_path / "junk.JPEG"
    junk.write_bytes(b"\x00not an image" * 50)
    table, bad = check_images([str(good), str(cmyk), str(truncated), str(junk),
                               str(tmp_path / "gone.JPEG")])
    assert table["ok"].tolist() == [True, True, False, False, False]
    assert table.loc[1, "mode"] == "CMYK" and table.loc[0, "format"] == "JPEG"
    reasons = dict(bad)
    assert "truncated" in reasons[str(truncated)]
    assert "unreadable" in reasons[str(junk)]
    assert "unreadable" in reasons[str(tmp_path / "gone.JPEG")]


def test_a_decompression_bomb_is_refused_by_name(tmp_path, monkeypatch):
    path = write_jpeg(tmp_path / "big.JPEG", size=(200, 200))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10_000)  # 40,000 pixels: past the limit
    record = check_image(str(path))
    assert not record["ok"] and "decompression-bomb limit of 10000 pixels" in record["reason"]
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 30_000)  # past the warning level only
    assert "decompression-bomb" in check_image(str(path))["reason"]


def test_a_failing_disk_is_not_a_bad_image(tmp_path, monkeypatch):
    path = write_jpeg(tmp_path / "good.JPEG")

    def broken_disk(*args, **kwargs):
        raise OSError(errno.EIO, "Input/output error", str(path))

    monkeypatch.setattr(image_tree.Image, "open", broken_disk)
    with pytest.raises(OSError, match="Input/output"):
        check_image(str(path))


def test_an_image_ref_changes_with_its_file(tmp_path):
    path = write_jpeg(tmp_path / "a.JPEG")
    first = image_ref(str(path))
    write_jpeg(path, size=(60, 50))
    assert image_ref(str(path)).key != first.key
    assert image_ref(str(tmp_path / "gone.JPEG")).size == -1
