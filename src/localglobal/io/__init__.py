"""Input and output at the edges: atomic writes, image codecs, archives and VOC XML."""
