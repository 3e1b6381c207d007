"""The toy world: a procedural dataset whose shape and texture cues are under control.

Ten classes, each a shape that owns a texture family; how often an object's texture is
its class's own family is a parameter. The world is written in ImageNet format
(:mod:`localglobal.toyworld.build`), two small ResNets are trained on it
(:mod:`localglobal.toyworld.train`) and ship with the package: ``toy-texture``, for
which texture predicts the class, and ``toy-shape``, for which it does not.
"""

from localglobal.toyworld.backgrounds import DISTRACTORS
from localglobal.toyworld.scenes import (
    class_ids,
    draw_texture_class,
    render_image,
    toyworld_label_space,
)
from localglobal.toyworld.shapes import SHAPES
from localglobal.toyworld.textures import TEXTURES

__all__ = [
    "DISTRACTORS",
    "SHAPES",
    "TEXTURES",
    "class_ids",
    "draw_texture_class",
    "render_image",
    "toyworld_label_space",
]
