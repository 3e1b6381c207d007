"""Label spaces: ImageNet-1k from timm's lists, its Imagenette/Imagewoof subsets, custom ones."""

import pytest

from localglobal.data.classes import (
    LabelSpace,
    get_label_space,
    load_label_space_file,
    register_label_space,
)


def test_imagenet_1k_is_the_sorted_wnid_order_of_1000_classes():
    space = get_label_space("imagenet-1k")
    assert len(space) == 1000
    assert list(space.wnids) == sorted(space.wnids)
    assert all(name for name in space.names)


@pytest.mark.parametrize("name", ["imagenette", "imagewoof"])
def test_subsets_are_ten_imagenet_classes_with_the_same_names(name):
    subset = get_label_space(name)
    imagenet = get_label_space("imagenet-1k")
    assert len(subset) == 10
    assert subset.parent == "imagenet-1k"
    for wnid, parent_index in zip(subset.wnids, subset.parent_indices(), strict=True):
        assert imagenet.wnids[parent_index] == wnid
        # The subset's short names are the first synonym of ImageNet's description.
        assert subset.name_of(wnid).lower() == imagenet.name_of(wnid).lower()


def test_index_name_and_membership_round_trip():
    space = get_label_space("imagenette")
    for index, wnid in enumerate(space.wnids):
        assert wnid in space
        assert space.index_of(wnid) == index
    assert "n99999999" not in space
    with pytest.raises(KeyError, match="n99999999"):
        space.index_of("n99999999")


def test_unknown_label_space_lists_the_known_ones():
    with pytest.raises(KeyError, match="imagenette"):
        get_label_space("no-such-space")


def test_label_file_gives_a_custom_space(tmp_path):
    path = tmp_path / "mine.txt"
    path.write_text("# my classes\nn00000001 circle\n\nn00000002\n", encoding="utf-8")
    space = load_label_space_file(path)
    assert space.name == "mine"
    assert space.wnids == ("n00000001", "n00000002")
    assert space.names == ("circle", "n00000002")  # a missing name is the wnid
    assert get_label_space(str(path)).wnids == space.wnids


def test_label_file_with_a_repeated_class_names_the_line(tmp_path):
    path = tmp_path / "twice.txt"
    path.write_text("a first\nb second\na again\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"twice.txt:3"):
        load_label_space_file(path)


def test_registering_a_custom_space_makes_it_available_by_name():
    space = LabelSpace("test-shapes", ("s0", "s1", "s2"), ("square", "disc", "star"))
    register_label_space(space, overwrite=True)
    assert get_label_space("test-shapes").index_of("s2") == 2
    clash = LabelSpace("test-shapes", ("x",), ("other",))
    with pytest.raises(ValueError, match="already registered"):
        register_label_space(clash)


def test_inconsistent_spaces_are_refused():
    with pytest.raises(ValueError, match="names"):
        LabelSpace("bad", ("a", "b"), ("only one",))
    with pytest.raises(ValueError, match="repeated"):
        LabelSpace("bad", ("a", "a"), ("x", "y"))
