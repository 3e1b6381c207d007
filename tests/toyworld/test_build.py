"""Writing the toy world in ImageNet format: images, nested VOC archive, cue conflict."""

import io
import json
import tarfile

import defusedxml.ElementTree as ET
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from localglobal.errors import ConfigError
from localglobal.labels import load_label_space_file
from localglobal.toyworld.build import (
    WorldConfig,
    build_world,
    image_rng,
    load_world_config,
    read_stimuli,
)
from localglobal.toyworld.scenes import (
    class_ids,
    draw_texture_class,
    render_image,
    toyworld_label_space,
)

SMALL = WorldConfig(seed=3, train_per_class=2, val_per_class=1, cue_conflict_per_pair=1,
                    sizes=((256, 256), (320, 256)))


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return build_world(tmp_path_factory.mktemp("toy") / "world", SMALL)


def _annotations(world):
    """{stem: xml root} from the outer archive of per-class archives."""
    found = {}
    with tarfile.open(world / "Annotation.tar.gz") as outer:
        for member in outer.getmembers():
            inner_bytes = outer.extractfile(member).read()
            with tarfile.open(fileobj=io.BytesIO(inner_bytes)) as inner:
                for xml_member in inner.getmembers():
                    assert xml_member.name.startswith(f"Annotation/{member.name[:-7]}/")
                    root = ET.fromstring(inner.extractfile(xml_member).read())
                    found[root.findtext("filename")] = root
    return found


def test_layout_is_imagenet_like(world):
    for split, count in (("train", 2), ("val", 1)):
        folders = sorted(p.name for p in (world / split).iterdir())
        assert folders == list(class_ids())
        for folder in folders:
            assert len(list((world / split / folder).glob("*.JPEG"))) == count
    assert load_label_space_file(world / "labels.txt").wnids == toyworld_label_space().wnids
    assert json.loads((world / "world.json").read_text()) == SMALL.model_dump(mode="json")


def test_every_image_has_one_object_whose_box_matches(world):
    annotations = _annotations(world)
    images = sorted(world.glob("*/t*/*.JPEG"))
    assert len(annotations) == len(images) == 30
    for path in images:
        root = annotations[path.stem]
        width, height = Image.open(path).size
        assert int(root.findtext("size/width")) == width
        assert int(root.findtext("size/height")) == height
        objects = root.findall("object")
        assert len(objects) == 1 and objects[0].findtext("name") == path.parent.name
        box = [int(objects[0].findtext(f"bndbox/{k}")) for k in ("xmin", "ymin", "xmax", "ymax")]
        assert 0 <= box[0] < box[2] < width and 0 <= box[1] < box[3] < height
        # The written box is the one the renderer reported for this very image.
        class_index = class_ids().index(path.parent.name)
        number = int(path.stem.rsplit("_", 1)[1])
        rng = image_rng(SMALL, path.parent.parent.name, class_index, number)
        texture = draw_texture_class(rng, class_index, SMALL.texture_match)
        size = SMALL.sizes[int(rng.integers(len(SMALL.sizes)))]
        rgb, expected = render_image(rng, class_index, texture, size)
        assert tuple(box) == expected
        written = np.asarray(Image.open(path).convert("RGB")).astype(float)
        assert np.abs(written - rgb).mean() < 6  # JPEG at quality 95


def test_cue_conflict_pairs_every_shape_with_every_other_texture(world):
    stimuli = read_stimuli(world / "cue-conflict")
    assert list(stimuli.columns) == ["path", "shape_wnid", "texture_wnid"]
    assert len(stimuli) == 90
    assert (stimuli["shape_wnid"] != stimuli["texture_wnid"]).all()
    pairs = set(zip(stimuli["shape_wnid"], stimuli["texture_wnid"], strict=True))
    assert len(pairs) == 90
    for path in stimuli["path"].head(5):
        assert (world / "cue-conflict" / path).exists()


def test_rebuilding_with_the_same_config_is_skipped(world):
    before = {p: p.stat().st_mtime_ns for p in world.rglob("*") if p.is_file()}
    assert build_world(world, SMALL) == world
    after = {p: p.stat().st_mtime_ns for p in world.rglob("*") if p.is_file()}
    assert before == after


def test_build_is_deterministic(tmp_path, world):
    other = build_world(tmp_path / "again", SMALL)
    for path in sorted(world.glob("train/*/*.JPEG"))[:3]:
        assert path.read_bytes() == (other / path.relative_to(world)).read_bytes()
    assert (world / "Annotation.tar.gz").read_bytes() == (other / "Annotation.tar.gz").read_bytes()


def test_texture_match_zero_mixes_textures(tmp_path):
    """With texture_match 0 the object's texture is independent of its class."""
    config = SMALL.model_copy(update={"texture_match": 0.0, "cue_conflict_per_pair": 0,
                                      "train_per_class": 1, "val_per_class": 0})
    out = build_world(tmp_path / "w", config)
    assert len(list(out.glob("train/*/*.JPEG"))) == 10
    assert read_stimuli(out / "cue-conflict").empty


def test_world_config_from_toml(tmp_path):
    path = tmp_path / "world.toml"
    path.write_text("[world]\nseed = 7\ntrain_per_class = 4\n")
    config = load_world_config(path)
    assert config.seed == 7 and config.train_per_class == 4 and config.val_per_class == 5
    assert load_world_config(None) == WorldConfig()
    path.write_text("[world]\ntexture_macth = 0.5\n")
    with pytest.raises(ConfigError, match="texture_macth: unknown key"):
        load_world_config(path)
    with pytest.raises(ConfigError, match=r"nope\.toml: no such world configuration file"):
        load_world_config(tmp_path / "nope.toml")
    path.write_bytes(b"\xff\xfe[world]")
    with pytest.raises(ConfigError, match="not a UTF-8 TOML file"):
        load_world_config(path)


def test_read_stimuli_names_missing_columns(tmp_path):
    pd.DataFrame({"path": ["a.png"]}).to_csv(tmp_path / "stimuli.csv", index=False)
    with pytest.raises(ValueError, match="shape_wnid"):
        read_stimuli(tmp_path)


def test_the_world_writes_each_objects_true_outline(world):
    from localglobal.probes.edge_masks import EdgePlan, outline_masks, unpack_masks
    from localglobal.toyworld.build import OUTLINES_FILE

    out = world
    archive = np.load(out / OUTLINES_FILE)
    images = sorted((out / "train").glob("*/*.JPEG")) + sorted((out / "val").glob("*/*.JPEG"))
    assert sorted(archive.files) == sorted(p.stem for p in images)
    for path in images[:3]:
        outline = archive[path.stem]
        with Image.open(path) as image:
            assert outline.shape == (image.height, image.width) and outline.dtype == bool
        # A thin closed line: a small share of the image, and not the filled silhouette.
        assert 0 < outline.mean() < 0.1
    # Brought into the input frame, in the format of edges.npz.
    ids = [p.stem for p in images[:2]]
    arrays, missing = outline_masks(str(out / OUTLINES_FILE), [*ids, "nope"], EdgePlan())
    assert missing == ["nope"]
    masks = unpack_masks(arrays)
    assert set(masks) == set(ids)
    assert all(m.shape == (224, 224) and m.sum() > 100 for m in masks.values())
