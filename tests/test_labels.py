"""Label spaces: ImageNet-1k from timm's lists, its subsets, the toy world, custom ones."""

import pytest

from localglobal.errors import ConfigError, LabelSpaceError
from localglobal.labels import (
    BUILTINS,
    LabelSpace,
    get_label_space,
    load_label_space_file,
    looks_like_path,
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


def test_builtins_load_lazily_and_once():
    assert set(BUILTINS) == {"imagenet-1k", "imagenette", "imagewoof", "toyworld", "geirhos-16"}
    assert get_label_space("toyworld") is get_label_space("toyworld")
    assert get_label_space("toyworld").wnids[3] == "t03_star"


def test_a_file_in_the_working_folder_never_shadows_a_builtin(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "imagenette").write_text("n00000001 circle\n", encoding="utf-8")
    assert len(get_label_space("imagenette")) == 10  # the name is the built-in
    (tmp_path / "mine").write_text("n00000001 circle\n", encoding="utf-8")
    with pytest.raises(LabelSpaceError, match=r"give it as a path: \./mine"):
        get_label_space("mine")  # a bare name is never read as a file
    assert get_label_space("./mine").wnids == ("n00000001",)


def test_a_label_file_named_like_a_builtin_is_an_error_saying_so(tmp_path):
    path = tmp_path / "imagenette.txt"
    path.write_text("n00000001 circle\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="built-in label space 'imagenette'"):
        get_label_space(str(path))


def test_a_builtin_cannot_be_registered_over():
    with pytest.raises(ValueError, match="built in"):
        register_label_space(LabelSpace("toyworld", ("a",), ("b",)))


def test_a_missing_label_file_is_named(tmp_path):
    with pytest.raises(LabelSpaceError, match="no such label file"):
        get_label_space(str(tmp_path / "absent.txt"))


@pytest.mark.parametrize(("text", "path"), [("imagenette", False), ("imagenet-1k", False),
                                            ("labels.txt", True), ("./mine", True),
                                            ("~/x", True), ("a/b", True)])
def test_paths_and_names_are_told_apart(text, path):
    assert looks_like_path(text) is path


def test_a_changed_label_file_is_read_again(tmp_path):
    path = tmp_path / "grow.txt"
    path.write_text("a first\n", encoding="utf-8")
    assert len(get_label_space(str(path))) == 1
    path.write_text("a first\nb second\n", encoding="utf-8")
    assert len(get_label_space(str(path))) == 2
