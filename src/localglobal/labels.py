"""Label spaces: the ordered classes a model predicts, by WordNet id.

A label space maps wnid ↔ index ↔ name. Five are built in and load when first asked
for: ``imagenet-1k`` (from the class lists timm ships), its published 10-class subsets
``imagenette`` and ``imagewoof`` (their parent indices are ImageNet-1k indices, so an
ImageNet model's logits can be read for them directly), ``toyworld`` (the
embedded toy world's ten shapes) and ``geirhos-16`` (Geirhos et al.'s 16 entry-level
categories, named ``airplane`` … ``truck``; an ImageNet model decides among them by
model-vs-human's mapping, :mod:`localglobal.evaluation.decisions`). Others are registered with
:func:`register_label_space` or read from a text file with one ``wnid name`` per line.

Names and files never mix: :func:`get_label_space` takes its argument as a **file**
only when it is written as a path (it holds a ``/``, starts with ``~`` or ``.``, or
has a suffix such as ``.txt``), and as a **name** otherwise. A built-in is therefore
never shadowed by a file of the same name in the working folder, and a label file or
a registered space that would carry a built-in's name is an error saying so.

>>> space = get_label_space("imagenette")
>>> space.wnids[0], space.names[0]
('n01440764', 'tench')
>>> get_label_space("imagenet-1k").index_of("n01440764")
0
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from localglobal.errors import LabelSpaceError

IMAGENETTE_WNIDS = (
    "n01440764", "n02102040", "n02979186", "n03000684", "n03028079",
    "n03394916", "n03417042", "n03425413", "n03445777", "n03888257",
)
IMAGENETTE_NAMES = (
    "tench", "English springer", "cassette player", "chain saw", "church",
    "French horn", "garbage truck", "gas pump", "golf ball", "parachute",
)
IMAGEWOOF_WNIDS = (
    "n02086240", "n02087394", "n02088364", "n02089973", "n02093754",
    "n02096294", "n02099601", "n02105641", "n02111889", "n02115641",
)
IMAGEWOOF_NAMES = (
    "Shih-Tzu", "Rhodesian ridgeback", "beagle", "English foxhound", "Border terrier",
    "Australian terrier", "golden retriever", "Old English sheepdog", "Samoyed", "dingo",
)
GEIRHOS_16_CATEGORIES: tuple[str, ...] = (
    "airplane", "bear", "bicycle", "bird", "boat", "bottle", "car", "cat",
    "chair", "clock", "dog", "elephant", "keyboard", "knife", "oven", "truck",
)
"""The 16 entry-level categories of Geirhos et al., sorted (model-vs-human's order): the
classes of ``geirhos-16``, named as the folders of one's own images are."""

TOYWORLD_SHAPES: tuple[str, ...] = (
    "circle", "square", "triangle", "star", "cross",
    "crescent", "heart", "ring", "arrow", "lshape",
)
"""The toy world's class names in output order (class k is shape k)."""

TOYWORLD_IDS: tuple[str, ...] = tuple(f"t{k:02d}_{name}" for k, name in enumerate(TOYWORLD_SHAPES))
"""The toy world's class ids (``t00_circle`` …), which sort in class order like wnids."""


@dataclass(frozen=True)
class LabelSpace:
    """An ordered set of classes.

    Attributes
    ----------
    name : str
        The registry name (``"imagenet-1k"``).
    wnids : tuple of str
        Class ids in output order (index k is the model's output k).
    names : tuple of str
        Human-readable class names, same order.
    parent : str, optional
        Name of a larger space whose indices :meth:`parent_indices` gives (Imagenette
        inside ImageNet-1k).
    """

    name: str
    wnids: tuple[str, ...]
    names: tuple[str, ...]
    parent: str | None = None
    _lookup: dict[str, int] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.wnids) != len(self.names):
            raise ValueError(
                f"label space {self.name!r}: {len(self.wnids)} wnids but {len(self.names)} names"
            )
        if len(set(self.wnids)) != len(self.wnids):
            raise ValueError(f"label space {self.name!r}: repeated wnids")
        self._lookup.update({wnid: i for i, wnid in enumerate(self.wnids)})

    def __len__(self) -> int:
        return len(self.wnids)

    def __contains__(self, wnid: object) -> bool:
        return wnid in self._lookup

    def index_of(self, wnid: str) -> int:
        """Output index of a class; a wnid outside the space is a ``KeyError`` naming it."""
        try:
            return self._lookup[wnid]
        except KeyError:
            raise KeyError(f"{wnid!r} is not a class of label space {self.name!r}") from None

    def name_of(self, wnid: str) -> str:
        """The human-readable name of class ``wnid``."""
        return self.names[self.index_of(wnid)]

    def parent_indices(self) -> list[int]:
        """Indices of these classes in the parent space (or in this one)."""
        parent = get_label_space(self.parent) if self.parent else self
        return [parent.index_of(wnid) for wnid in self.wnids]


# --------------------------------------------------------------------------- built-ins


def _imagenet_1k() -> LabelSpace:
    """ImageNet-1k in the standard (sorted-wnid) output order, names from timm."""
    import timm.data  # heavy: only when ImageNet-1k is first asked for

    info = timm.data.ImageNetInfo("imagenet-1k")
    wnids = tuple(info.label_names())
    names = tuple(info.index_to_description(i).split(",")[0].strip() for i in range(len(wnids)))
    return LabelSpace("imagenet-1k", wnids, names)


BUILTINS: dict[str, Callable[[], LabelSpace]] = {
    "imagenet-1k": _imagenet_1k,
    "imagenette": lambda: LabelSpace("imagenette", IMAGENETTE_WNIDS, IMAGENETTE_NAMES,
                                     parent="imagenet-1k"),
    "imagewoof": lambda: LabelSpace("imagewoof", IMAGEWOOF_WNIDS, IMAGEWOOF_NAMES,
                                    parent="imagenet-1k"),
    "toyworld": lambda: LabelSpace("toyworld", TOYWORLD_IDS, TOYWORLD_SHAPES),
    "geirhos-16": lambda: LabelSpace("geirhos-16", GEIRHOS_16_CATEGORIES,
                                     GEIRHOS_16_CATEGORIES),
}
"""The built-in label spaces by name, each made when first asked for."""

_LOADED: dict[str, LabelSpace] = {}  # built-ins made so far
_REGISTERED: dict[str, LabelSpace] = {}  # spaces given to register_label_space
_FILES: dict[tuple[str, int, int], LabelSpace] = {}  # (resolved path, mtime, size) → space


def register_label_space(space: LabelSpace, overwrite: bool = False) -> LabelSpace:
    """Make a label space available by its name.

    Parameters
    ----------
    space : LabelSpace
        The space; its ``name`` is how :func:`get_label_space` finds it.
    overwrite : bool
        Replace a registered space of the same name.

    Returns
    -------
    LabelSpace
        ``space``.

    Raises
    ------
    ValueError
        The name is a built-in's, or another space is already registered under it.
    """
    if space.name in BUILTINS:
        raise ValueError(f"label space {space.name!r} is built in and cannot be replaced; "
                         "register yours under another name")
    known = _REGISTERED.get(space.name)
    if known is not None and known != space and not overwrite:
        raise ValueError(f"label space {space.name!r} is already registered with other classes")
    _REGISTERED[space.name] = space
    return space


def looks_like_path(text: str) -> bool:
    """Whether ``text`` is written as a file path rather than as a label-space name."""
    separators = {"/", os.sep, *([os.altsep] if os.altsep else [])}
    return (any(s in text for s in separators) or text.startswith(("~", "."))
            or bool(Path(text).suffix))


def load_label_space_file(path: str | os.PathLike[str], name: str | None = None) -> LabelSpace:
    """Read a label space from a text file with one ``wnid [name]`` per line.

    Blank lines and lines starting with ``#`` are ignored; a missing name is the wnid.

    Parameters
    ----------
    path : path-like
        The file.
    name : str, optional
        The space's name (default: the file's stem).

    Raises
    ------
    ValueError
        A class is listed twice (the message names the line) or there is none.
    """
    path = Path(path)
    wnids: list[str] = []
    names: list[str] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        wnid, _, label = text.partition(" ")
        if wnid in wnids:
            raise ValueError(f"{path}:{number}: class {wnid!r} listed twice")
        wnids.append(wnid)
        names.append(label.strip() or wnid)
    if not wnids:
        raise ValueError(f"{path}: no classes")
    return LabelSpace(name or path.stem, tuple(wnids), tuple(names))


def _from_file(text: str) -> LabelSpace:
    path = Path(text).expanduser()
    if not path.is_file():
        raise LabelSpaceError(f"{text}: no such label file (a label space given as a path "
                              "must be a text file with one 'wnid name' per line)")
    stat = path.stat()
    key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    if key not in _FILES:
        space = load_label_space_file(path)
        if space.name in BUILTINS:
            raise LabelSpaceError(
                f"{text}: a label file named like the built-in label space {space.name!r}; "
                "a file never replaces a built-in: rename the file")
        registered = _REGISTERED.get(space.name)
        if registered is not None and registered != space:
            raise LabelSpaceError(
                f"{text}: a label file named like the registered label space {space.name!r} "
                "but with other classes; rename the file")
        _FILES[key] = space
    return _FILES[key]


def known_label_spaces() -> list[str]:
    """Names of every built-in and registered label space, sorted."""
    return sorted({*BUILTINS, *_REGISTERED})


def get_label_space(name: str) -> LabelSpace:
    """A label space by name, or read from a label file given as a path.

    Parameters
    ----------
    name : str
        A built-in's name (``imagenette``), a registered space's name, or the path of
        a label file (``labels.txt``, ``./mine``, ``~/spaces/mine.txt``).

    Raises
    ------
    LabelSpaceError
        (a ``KeyError``) The name is unknown, the file is missing, or the file's name
        clashes with a built-in or registered space; the message says which.
    """
    if name in BUILTINS:
        if name not in _LOADED:
            _LOADED[name] = BUILTINS[name]()
        return _LOADED[name]
    if name in _REGISTERED:
        return _REGISTERED[name]
    if looks_like_path(name):
        return _from_file(name)
    hint = (f"; to read the file {name!r}, give it as a path: ./{name}"
            if Path(name).is_file() else "")
    raise LabelSpaceError(f"unknown label space {name!r}; known: "
                          f"{', '.join(known_label_spaces())}, or a label file given as a "
                          f"path{hint}")
