"""Label spaces: the ordered classes a model predicts, by WordNet id.

A label space maps wnid ↔ index ↔ name. ``imagenet-1k`` comes from the class lists
that timm ships; ``imagenette`` and ``imagewoof`` are its published 10-class
subsets (their indices are ImageNet-1k indices, so an ImageNet model's logits can
be read for them directly); custom spaces (the toy world, a user's own dataset)
are registered with :func:`register_label_space` or loaded from a text file with
one ``wnid name`` per line.

>>> space = get_label_space("imagenette")
>>> space.wnids[0], space.names[0]
('n01440764', 'tench')
>>> get_label_space("imagenet-1k").index_of("n01440764")
0
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

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


@dataclass(frozen=True)
class LabelSpace:
    """An ordered set of classes.

    Attributes:
        name: registry name (``"imagenet-1k"``).
        wnids: class ids in output order (index k is the model's output k).
        names: human-readable class names, same order.
        parent: name of a larger space whose indices ``parent_indices`` these
            classes have (Imagenette inside ImageNet-1k), else None.
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
        return self.names[self.index_of(wnid)]

    def parent_indices(self) -> list[int]:
        """Indices of these classes in the parent space (or in this one)."""
        parent = get_label_space(self.parent) if self.parent else self
        return [parent.index_of(wnid) for wnid in self.wnids]


_REGISTRY: dict[str, LabelSpace] = {}


def register_label_space(space: LabelSpace, overwrite: bool = False) -> LabelSpace:
    """Make a label space available by name."""
    if space.name in _REGISTRY and not overwrite and _REGISTRY[space.name] != space:
        raise ValueError(f"label space {space.name!r} is already registered")
    _REGISTRY[space.name] = space
    return space


@functools.lru_cache(maxsize=1)
def imagenet_1k() -> LabelSpace:
    """ImageNet-1k in the standard (sorted-wnid) output order, names from timm."""
    import timm.data

    info = timm.data.ImageNetInfo("imagenet-1k")
    wnids = tuple(info.label_names())
    names = tuple(info.index_to_description(i).split(",")[0].strip() for i in range(len(wnids)))
    return LabelSpace("imagenet-1k", wnids, names)


def load_label_space_file(path: str | Path, name: str | None = None) -> LabelSpace:
    """Read a label space from a text file with one ``wnid [name]`` per line.

    Blank lines and lines starting with ``#`` are ignored; a missing name is the wnid.
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


def get_label_space(name: str) -> LabelSpace:
    """A label space by name (or by the path of a label file)."""
    if name in _REGISTRY:
        return _REGISTRY[name]
    if name == "imagenet-1k":
        return register_label_space(imagenet_1k())
    if name == "imagenette":
        return register_label_space(
            LabelSpace("imagenette", IMAGENETTE_WNIDS, IMAGENETTE_NAMES, parent="imagenet-1k")
        )
    if name == "imagewoof":
        return register_label_space(
            LabelSpace("imagewoof", IMAGEWOOF_WNIDS, IMAGEWOOF_NAMES, parent="imagenet-1k")
        )
    if name == "toyworld":
        from localglobal.toyworld.render import toyworld_label_space

        return register_label_space(toyworld_label_space())
    if Path(name).is_file():
        return register_label_space(load_label_space_file(name), overwrite=True)
    known = sorted({*_REGISTRY, "imagenet-1k", "imagenette", "imagewoof", "toyworld"})
    raise KeyError(f"unknown label space {name!r}; known: {', '.join(known)}")
