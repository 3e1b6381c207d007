"""Block scrambling: cut the image into square blocks and shuffle them.

The image is cut into blocks of side ``block``, numbered row-major (left to right,
then top to bottom). Output block ``k`` is input block ``permutation[k]``; the
permutation is drawn at random, is never the identity, and is returned in a
:class:`ScrambleRecord` so the scramble can be undone exactly.

A uniform random permutation leaves about one block in place on average (a block
with π(k) = k keeps its position and its neighbours' context), so with few blocks
(4 at a block side of 112 on 224) a scramble can keep a quarter or half of the image
intact. ``derangement=True`` draws uniformly among the permutations that move every
block instead; the thesis's draws are the default. The record's ``fixed_blocks``
counts the blocks left in place either way.

Seeds are derived per image from the run seed, the image id and the level with
:func:`image_seed` (a SHA-256 digest, stable across processes and Python
versions), so one image's permutations do not depend on which other images are
in the run.

>>> image = np.arange(4 * 4 * 3, dtype=np.uint8).reshape(4, 4, 3)
>>> scrambled, record = scramble(image, 2, seed=0)
>>> bool((unscramble(scrambled, record.permutation, 2) == image).all())
True
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import Field

from localglobal.errors import BadInputError, ConfigError
from localglobal.probes.registry import (
    ImageContext,
    Item,
    Level,
    Probe,
    ProbeParams,
    register_probe,
)
from localglobal.probes.seeds import image_seed

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class ScrambleRecord:
    """What a scramble did.

    Attributes
    ----------
    block : int
        Side of the square blocks, pixels.
    permutation : tuple[int, ...]
        Output block ``k`` is input block ``permutation[k]`` (row-major).
    """

    block: int
    permutation: tuple[int, ...]

    @property
    def fixed_blocks(self) -> int:
        """The number of blocks left in place (k with ``permutation[k] == k``)."""
        return fixed_points(self.permutation)

    def params(self) -> dict[str, object]:
        """The record as ``perturbations.parquet`` stores it.

        ``{"block", "permutation", "fixed_blocks"}``.
        """
        return {"block": int(self.block), "permutation": [int(k) for k in self.permutation],
                "fixed_blocks": self.fixed_blocks}


def fixed_points(permutation: Sequence[int]) -> int:
    """The number of k with ``permutation[k] == k``."""
    perm = np.asarray(permutation, dtype=np.int64)
    return int(np.count_nonzero(perm == np.arange(perm.size)))


def derangement_count(n: int) -> int:
    """The number of permutations of ``n`` items that move every item (subfactorial !n)."""
    if n == 0:
        return 1
    current, previous = 0, 1  # !1 and !0
    for k in range(2, n + 1):
        # !k = (k − 1)(!(k − 1) + !(k − 2))
        current, previous = (k - 1) * (current + previous), current
    return current


FRAME_HINT = ("bring the image into the model-input frame first: "
              "localglobal.to_input_frame(image, resize=256, crop=224)")
"""How a message tells the user to give a probe an image of the pipeline's size."""


def block_grid(height: int, width: int, block: int) -> tuple[int, int]:
    """Number of block rows and columns of an image, checking that ``block`` divides it.

    Raises
    ------
    ValueError
        ``block`` is not positive or does not divide a side; the message names both
        numbers and :data:`FRAME_HINT`.
    """
    if block <= 0:
        raise ValueError(f"block side must be positive, got {block}")
    for side in {height, width}:
        if side % block:
            raise ValueError(f"block side {block} does not divide the image side {side}; "
                             f"{FRAME_HINT}")
    return height // block, width // block


def _blocks(image: np.ndarray, block: int) -> tuple[np.ndarray, tuple[int, int]]:
    """The image as an N×block×block(×C) stack of blocks in row-major order."""
    rows, cols = block_grid(image.shape[0], image.shape[1], block)
    tail = image.shape[2:]
    stacked = image.reshape(rows, block, cols, block, *tail).swapaxes(1, 2)
    return stacked.reshape(rows * cols, block, block, *tail), (rows, cols)


def _assemble(blocks: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    rows, cols = grid
    block = blocks.shape[1]
    tail = blocks.shape[3:]
    stacked = blocks.reshape(rows, cols, block, block, *tail).swapaxes(1, 2)
    return np.ascontiguousarray(stacked.reshape(rows * block, cols * block, *tail))


def _check_permutation(permutation: Sequence[int], n_blocks: int) -> np.ndarray:
    perm = np.asarray(permutation, dtype=np.int64)
    if perm.shape != (n_blocks,) or not np.array_equal(np.sort(perm), np.arange(n_blocks)):
        raise ValueError(f"not a permutation of {n_blocks} blocks: {list(perm)[:12]}")
    return perm


def apply_permutation(image: np.ndarray, permutation: Sequence[int], block: int) -> np.ndarray:
    """Rearrange blocks: output block ``k`` is input block ``permutation[k]``.

    Parameters
    ----------
    image : numpy.ndarray
        H×W×C (or H×W) array; ``block`` must divide H and W.
    permutation : Sequence[int]
        A permutation of ``range((H/block)·(W/block))``.
    block : int
        Block side, pixels.

    Returns
    -------
    numpy.ndarray
        A new array of the same shape and dtype.
    """
    blocks, grid = _blocks(np.asarray(image), block)
    perm = _check_permutation(permutation, len(blocks))
    return _assemble(blocks[perm], grid)


def unscramble(image: np.ndarray, permutation: Sequence[int], block: int) -> np.ndarray:
    """Undo :func:`apply_permutation`: put every block back where it came from."""
    blocks, grid = _blocks(np.asarray(image), block)
    perm = _check_permutation(permutation, len(blocks))
    restored = np.empty_like(blocks)
    restored[perm] = blocks
    return _assemble(restored, grid)


def random_permutation(n_blocks: int, rng: np.random.Generator,
                       exclude: Sequence[Sequence[int]] = (), *,
                       derangement: bool = False) -> np.ndarray:
    """A random permutation of ``n_blocks`` that is not the identity nor in ``exclude``.

    Permutations are drawn uniformly and redrawn until they qualify, so the result is
    uniform over the qualifying ones: with ``derangement`` those that move every
    block (about 1/e of all, so a few draws on average), else every non-identity
    permutation. ``exclude`` is honoured only while enough permutations remain (n! − 1
    non-identity ones, !n derangements); past that, repeats are allowed.

    Raises
    ------
    ValueError
        fewer than two blocks, so no permutation differs from the identity.
    """
    if n_blocks < 2:
        raise ValueError(
            f"{n_blocks} block(s) cannot be scrambled; use a block side that leaves at "
            "least two blocks"
        )
    identity = np.arange(n_blocks)
    banned = {tuple(int(k) for k in p) for p in exclude}
    # A huge factorial is never exhausted; only small grids (2×2 = 4 blocks) can run out.
    if n_blocks > 12:
        available = None
    elif derangement:
        available = derangement_count(n_blocks)
        banned = {p for p in banned if fixed_points(p) == 0}
    else:
        available = math.factorial(n_blocks) - 1
        banned = banned - {tuple(identity)}
    honour_exclude = available is None or len(banned) < available
    while True:
        perm = rng.permutation(n_blocks)
        if np.array_equal(perm, identity):
            continue
        if derangement and np.any(perm == identity):
            continue
        if honour_exclude and tuple(int(k) for k in perm) in banned:
            continue
        return perm


def scramble(image: np.ndarray, block: int,
             seed: np.random.Generator | int | None = None, *,
             exclude: Sequence[Sequence[int]] = (),
             derangement: bool = False) -> tuple[np.ndarray, ScrambleRecord]:
    """Shuffle the square blocks of an image by a random permutation that is not the identity.

    Parameters
    ----------
    image : numpy.ndarray
        H×W×3 uint8 RGB (any H×W(×C) array works) whose sides ``block`` divides: the
        pipeline scrambles the 224×224 model-input frame, and a photo of another size
        is brought there with ``localglobal.to_input_frame(image, resize=256, crop=224)``.
    block : int
        Block side, pixels.
    seed : int or numpy.random.Generator, optional
        Seed of the permutation, or a generator (None: fresh entropy).
    exclude : sequence of sequence of int
        Permutations not to draw (the other variants of the same image).
    derangement : bool
        Move every block (uniform over derangements).

    Returns
    -------
    (numpy.ndarray, ScrambleRecord)
        The scrambled image (same shape and dtype); output block k is input block
        ``record.permutation[k]``, row-major.

    Raises
    ------
    ValueError
        ``block`` does not divide a side (the message names both numbers and
        ``to_input_frame``), or it leaves a single block.

    Examples
    --------
    >>> image = np.arange(4 * 4 * 3, dtype=np.uint8).reshape(4, 4, 3)
    >>> out, record = scramble(image, 2, seed=0)
    >>> sorted(record.permutation) == [0, 1, 2, 3] and record.permutation != (0, 1, 2, 3)
    True
    """
    image = np.asarray(image)
    rows, cols = block_grid(image.shape[0], image.shape[1], block)
    generator = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    perm = random_permutation(rows * cols, generator, exclude, derangement=derangement)
    record = ScrambleRecord(block=int(block), permutation=tuple(int(k) for k in perm))
    return apply_permutation(image, perm, block), record


def scramble_variants(image: np.ndarray, block: int, variants: int, run_seed: int,
                      image_id: str, *, derangement: bool = False,
                      ) -> list[tuple[np.ndarray, ScrambleRecord]]:
    """The ``variants`` scrambles of one image at one block side, all different if possible.

    Variant ``v`` draws from its own seed, ``image_seed(run_seed, image_id, "scramble",
    block, v)``, and avoids the permutations of variants ``0 … v−1`` (possible unless the
    grid has too few blocks, as 2×2 blocks have only 23 non-identity orders and 9
    derangements). ``derangement`` moves every block; without it the draws are the
    thesis's and do not change.
    """
    out: list[tuple[np.ndarray, ScrambleRecord]] = []
    for variant in range(variants):
        seed = image_seed(run_seed, image_id, "scramble", block, variant)
        previous = [record.permutation for _, record in out]
        out.append(scramble(image, block, seed, exclude=previous, derangement=derangement))
    return out


def block_index(side: int, block: int, permutation: Sequence[int],
                device: torch.device | str = "cpu") -> torch.Tensor:
    """The flat source-pixel index of every output pixel of a scramble.

    Parameters
    ----------
    side : int
        Image side S in pixels (square images; ``block`` divides it).
    block : int
        Block side b in pixels.
    permutation : sequence of int
        Output block k comes from input block ``permutation[k]``, row-major.
    device : torch.device or str
        Where the index is built.

    Returns
    -------
    torch.Tensor
        S·S int64 indices into the row-major flattened image.
    """
    import torch

    blocks_per_row = block_grid(side, side, block)[0]
    perm = torch.as_tensor(_check_permutation(permutation, blocks_per_row**2), device=device)
    rows = torch.arange(side, device=device)
    out_block = (rows[:, None] // block) * blocks_per_row + rows[None, :] // block
    source = perm[out_block]
    source_row = (source // blocks_per_row) * block + rows[:, None] % block
    source_col = (source % blocks_per_row) * block + rows[None, :] % block
    return (source_row * side + source_col).reshape(-1)


def scramble_batch(images: torch.Tensor, blocks: Sequence[int],
                   permutations: Sequence[Sequence[int]]) -> torch.Tensor:
    """Scramble every image of a batch with its own block side and permutation.

    The pixels equal :func:`apply_permutation`'s on the same image.

    Parameters
    ----------
    images : torch.Tensor
        N×C×S×S, any dtype and device.
    blocks : sequence of int
        Block side per image, pixels.
    permutations : sequence of sequences
        Permutation per image (see :func:`block_index`).

    Returns
    -------
    torch.Tensor
        N×C×S×S, a new tensor on the same device.
    """
    import torch

    n, channels, side, width = images.shape
    if side != width:
        raise ValueError(f"scrambling needs square images, got {side}×{width}")
    index = torch.stack([block_index(side, b, p, images.device)
                         for b, p in zip(blocks, permutations, strict=True)])
    flat = images.reshape(n, channels, side * side)
    gathered = flat.gather(2, index[:, None, :].expand(n, channels, side * side))
    return gathered.reshape(n, channels, side, side)


def record_params(record: ScrambleRecord) -> dict[str, object]:
    """A scramble record as ``params``: every field of the record, then its ``params()``.

    Copying the fields lets a field added to the record reach the table even before
    ``params()`` names it; ``params()`` adds what is computed (``fixed_blocks``).
    """
    out: dict[str, object] = {"block": int(record.block),
                              "permutation": [int(k) for k in record.permutation]}
    out.update(record.params())
    return out


class ScrambleParams(ProbeParams):
    """``[probes.scramble]``: block sides, variants per side, and the kind of permutation."""

    blocks: list[int] = Field(default_factory=lambda: [28, 32, 56, 112],
                              description="block sides in pixels; each must divide the crop")
    variants: int = Field(3, ge=1, description="scrambles per block side and image")
    derangement: bool = Field(
        False, description="draw permutations that move every block (uniform over "
        "derangements); false keeps the thesis's permutations, which may leave blocks in "
        "place (their count is recorded as fixed_blocks either way)")


@register_probe
class ScrambleProbe(Probe):
    """Cut the input into square blocks and shuffle them (the thesis's scrambling)."""

    name = "scramble"
    title = "Scrambling"
    description = ("The input is cut into square blocks of the given side, which are "
                   "shuffled by a random permutation that is not the identity.")
    axis_label = "block side (pixels)"
    keeps = "every block's pixels: texture and parts up to the block side"
    destroys = "the arrangement of the blocks: global shape"
    Params = ScrambleParams
    levels_key = "blocks"
    params: ScrambleParams

    def levels(self) -> list[Level]:
        return [Level(int(b), str(int(b))) for b in self.params.blocks]

    def strongest(self) -> Level:
        """The smallest block: it breaks the most of the image's arrangement."""
        return min(self.levels(), key=lambda level: level.code)

    def curve_levels(self) -> list[Level]:
        return sorted(self.levels(), key=lambda level: -level.code)

    def tile(self, level: Level, variants: Sequence[str], record: Mapping[str, Any]
             ) -> tuple[str, str]:
        return ("0" if "0" in variants else str(variants[0])), f"scramble b={level.code}"

    def strength_text(self, level: Level) -> str:
        blocks = (f"{(self.crop // level.code) ** 2} blocks; "
                  if self.crop % level.code == 0 else "")
        return f"block side {level.code} px ({blocks}the smallest side)"

    def check(self, validate: bool = True) -> None:
        for block in self.params.blocks:
            try:
                rows, cols = block_grid(self.crop, self.crop, block)
            except ValueError as error:
                raise ConfigError(f"probes.scramble.blocks: {error}") from None
            if rows * cols < 2:
                raise ConfigError(f"probes.scramble.blocks: block side {block} leaves a "
                                  f"single block of the {self.crop}-pixel input; nothing "
                                  "to scramble")

    def apply(self, image: np.ndarray, level: Level, rng: np.random.Generator
              ) -> tuple[np.ndarray, dict[str, object]]:
        scrambled, record = scramble(image, level.code, rng,
                                     derangement=self.params.derangement)
        return scrambled, record_params(record)

    def items(self, context: ImageContext) -> Iterator[tuple[Item, np.ndarray]]:
        # Variants of one block side avoid each other's permutations, so they are drawn
        # together rather than item by item.
        for level in self.levels():
            variants = scramble_variants(context.frame, level.code, self.params.variants,
                                         context.run_seed, context.image_id,
                                         derangement=self.params.derangement)
            for variant, (scrambled, record) in enumerate(variants):
                yield Item(self.name, level, str(variant), record_params(record)), scrambled

    def build(self, originals: torch.Tensor, records: Sequence[Mapping[str, Any]]
              ) -> torch.Tensor:
        return scramble_batch(originals, [int(r["block"]) for r in records],
                              [r["permutation"] for r in records])

    def validate(self, record: Mapping[str, Any], level: Level | None, side: int) -> None:
        super().validate(record, level, side)
        block = record.get("block")
        if not isinstance(block, int) or isinstance(block, bool) \
                or (level is not None and block != level.code):
            raise BadInputError(f"scramble params: block {block!r} is not the row's level "
                                f"{level}")
        try:
            rows, cols = block_grid(side, side, block)
            _check_permutation(_int_list(record.get("permutation")), rows * cols)
        except (ValueError, TypeError) as error:
            raise BadInputError(f"scramble params: {error}") from None


def _int_list(value: object) -> list[int]:
    if not isinstance(value, list) or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise TypeError("permutation must be a list of block numbers")
    return value
