"""How fast the annotations stage reads ImageNet's bounding boxes.

Builds (once, then cached) a synthetic ``Annotation.tar.gz`` at full ImageNet scale
— 3,627 per-synset archives holding about 545,000 VOC XML files of one to three
objects — and reads it through the annotations stage. Two baselines are measured
in the same run:

* the thesis's method: per file, parse, one ``pandas.json_normalize`` and a
  ``pandas.concat`` onto the growing table, timed on a 2,000-file slice and
  extrapolated linearly per file (which flatters it: its cost per file grows with
  the table);
* a plain single-process ElementTree loop (``tarfile`` + ``ElementTree.fromstring``
  + ``findtext``) over the same archive.

Goals: at least 100× the thesis's method, at least 1.6× the ElementTree loop on two
cores. The thesis notebook needed 73 minutes for the real archive.

    .venv/bin/python benchmarks/annotations.py            # full scale
    .venv/bin/python benchmarks/annotations.py --quick    # 200 synsets
"""

from __future__ import annotations

import argparse
import gzip
import io
import multiprocessing
import os
import random
import tarfile
import tempfile
import time
from pathlib import Path
from xml.etree import ElementTree as ET

import pandas as pd

FULL_SYNSETS = 3627
FULL_FILES = 545_000
THESIS_MINUTES = 73.0  # the thesis notebook on the real archive
FORMAT_VERSION = 1

_DOC = (
    "<annotation>\n\t<folder>%(wnid)s</folder>\n\t<filename>%(image_id)s</filename>\n"
    "\t<source>\n\t\t<database>ImageNet database</database>\n\t</source>\n"
    "\t<size>\n\t\t<width>%(width)d</width>\n\t\t<height>%(height)d</height>\n"
    "\t\t<depth>3</depth>\n\t</size>\n\t<segmented>0</segmented>\n%(objects)s</annotation>\n"
)
_OBJECT = (
    "\t<object>\n\t\t<name>%s</name>\n\t\t<pose>Unspecified</pose>\n"
    "\t\t<truncated>%d</truncated>\n\t\t<difficult>0</difficult>\n\t\t<bndbox>\n"
    "\t\t\t<xmin>%d</xmin>\n\t\t\t<ymin>%d</ymin>\n\t\t\t<xmax>%d</xmax>\n"
    "\t\t\t<ymax>%d</ymax>\n\t\t</bndbox>\n\t</object>\n"
)


# --------------------------------------------------------------------------- synthesis


def _ustar_header(name: bytes, size: int) -> bytes:
    header = bytearray(512)
    header[0:len(name)] = name
    header[100:108] = b"0000644\0"
    header[108:116] = b"0000000\0"
    header[116:124] = b"0000000\0"
    header[124:136] = b"%011o\0" % size
    header[136:148] = b"%011o\0" % 1_300_000_000
    header[148:156] = b" " * 8
    header[156:157] = b"0"
    header[257:265] = b"ustar\x0000"
    header[148:156] = b"%06o\0 " % sum(header)
    return bytes(header)


def _tar(members: list[tuple[bytes, bytes]]) -> bytes:
    parts = []
    for name, data in members:
        parts.append(_ustar_header(name, len(data)))
        parts.append(data)
        parts.append(b"\0" * (-len(data) % 512))
    parts.append(b"\0" * 1024)
    return b"".join(parts)


def _synset_archive(job: tuple[str, int, int]) -> tuple[str, bytes, int]:
    wnid, n_files, seed = job
    rng = random.Random(seed)
    members = []
    objects_total = 0
    for k in range(n_files):
        image_id = f"{wnid}_{10000 + k * 7}"
        width, height = rng.randint(120, 500), rng.randint(120, 500)
        n_objects = rng.choice((1, 1, 1, 1, 2, 2, 3))
        objects_total += n_objects
        objects = []
        for _ in range(n_objects):
            x0, y0 = rng.randint(0, width // 2), rng.randint(0, height // 2)
            objects.append(_OBJECT % (wnid, rng.random() < 0.2, x0, y0,
                                      rng.randint(x0, width - 1), rng.randint(y0, height - 1)))
        doc = _DOC % {"wnid": wnid, "image_id": image_id, "width": width, "height": height,
                      "objects": "".join(objects)}
        members.append((f"Annotation/{wnid}/{image_id}.xml".encode(), doc.encode()))
    return wnid, gzip.compress(_tar(members), compresslevel=6, mtime=0), objects_total


def synthesize(path: Path, synsets: int, files: int, seed: int = 0, workers: int = 2) -> Path:
    """Write a nested ``Annotation.tar.gz`` of ``synsets`` archives and about ``files`` XMLs."""
    rng = random.Random(seed)
    mean = files / synsets
    counts = [max(1, round(mean * rng.uniform(0.5, 1.5))) for _ in range(synsets)]
    scale = files / sum(counts)
    counts = [max(1, round(c * scale)) for c in counts]
    wnids = [f"n{(1_440_764 + 2_711 * k) % 10**8:08d}" for k in range(synsets)]
    jobs = [(wnid, count, seed * 100_003 + k) for k, (wnid, count) in
            enumerate(zip(wnids, counts, strict=True))]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    pool = multiprocessing.get_context("fork").Pool(workers) if workers > 1 else None
    try:
        archives = (pool.imap(_synset_archive, jobs, chunksize=8) if pool is not None
                    else map(_synset_archive, jobs))
        with tarfile.open(tmp, "w:gz", compresslevel=1) as outer:
            for wnid, data, _ in archives:
                info = tarfile.TarInfo(f"Annotation/{wnid}.tar.gz")
                info.size = len(data)
                outer.addfile(info, io.BytesIO(data))
    finally:
        if pool is not None:
            pool.close()
            pool.join()
    os.replace(tmp, path)
    return path


def cached_archive(synsets: int, files: int, cache: Path, workers: int) -> Path:
    """A synthetic annotation archive of ``synsets`` × ``files``, built once and cached."""
    path = cache / f"annotations-{synsets}x{files}-v{FORMAT_VERSION}.tar.gz"
    if path.exists():
        print(f"archive: {path} (cached)")
        return path
    started = time.perf_counter()
    synthesize(path, synsets, files, workers=workers)
    print(f"archive: {path} (written in {time.perf_counter() - started:.1f} s, "
          f"{path.stat().st_size / 1e6:.1f} MB)")
    return path


# --------------------------------------------------------------------------- baselines


def _iter_xml(path: Path, limit: int | None = None):
    """(member name, bytes) of the XML files of a nested archive, in order."""
    count = 0
    with tarfile.open(path, "r:gz") as outer:
        for member in outer:
            if not member.isfile() or not member.name.endswith((".tar.gz", ".tgz")):
                continue
            handle = outer.extractfile(member)
            with tarfile.open(fileobj=handle, mode="r:gz") as inner:
                for item in inner:
                    if item.isfile() and item.name.endswith(".xml"):
                        yield item.name, inner.extractfile(item).read()
                        count += 1
                        if limit is not None and count >= limit:
                            return


def _etree_to_dict(element: ET.Element):
    """The nested dictionary ``xmltodict`` makes of an element (repeated tags → lists)."""
    children = list(element)
    if not children:
        return element.text
    out: dict = {}
    for child in children:
        value = _etree_to_dict(child)
        if child.tag in out:
            if not isinstance(out[child.tag], list):
                out[child.tag] = [out[child.tag]]
            out[child.tag].append(value)
        else:
            out[child.tag] = value
    return out


def thesis_method(documents: list[tuple[str, bytes]]) -> pd.DataFrame:
    """The thesis notebook's loop: per file, parse, ``json_normalize``, ``concat``."""
    table = None
    for _name, data in documents:
        row = pd.json_normalize({"annotation": _etree_to_dict(ET.fromstring(data))})
        table = row if table is None else pd.concat([table, row], ignore_index=True)
    return table


def elementtree_loop(path: Path) -> pd.DataFrame:
    """A plain single-process reader: tarfile, ElementTree, one row per object."""
    rows = []
    for name, data in _iter_xml(path):
        root = ET.fromstring(data)
        image_id = name.rsplit("/", 1)[-1][:-4]
        width = int(root.findtext("size/width"))
        height = int(root.findtext("size/height"))
        depth = int(root.findtext("size/depth"))
        for index, obj in enumerate(root.iter("object")):
            box = obj.find("bndbox")
            rows.append((image_id, image_id.split("_")[0], width, height, depth, index,
                         obj.findtext("name"), float(box.findtext("xmin")),
                         float(box.findtext("ymin")), float(box.findtext("xmax")),
                         float(box.findtext("ymax")), int(obj.findtext("truncated")),
                         int(obj.findtext("difficult")), obj.findtext("pose"), name))
    columns = ["image_id", "wnid", "width", "height", "depth", "object_index", "name", "xmin",
               "ymin", "xmax", "ymax", "truncated", "difficult", "pose", "source"]
    return pd.DataFrame(rows, columns=columns)


# --------------------------------------------------------------------------- the stage


def read_with_stage(path: Path, workers: int, run_dir: Path) -> tuple[float, dict]:
    """Run the annotations stage on ``path`` in a fresh run directory; (seconds, summary)."""
    from localglobal.config import RunConfig
    from localglobal.run import prepare_run, run_stage

    config = RunConfig()
    config.data.annotations = str(path)
    config.run.workers = workers
    run, config = prepare_run(run_dir, config=config)
    started = time.perf_counter()
    summary = run_stage("annotations", run, config, force=True)
    return time.perf_counter() - started, summary


def main() -> None:
    """Measure and print this benchmark's figures (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="200 synsets instead of 3,627")
    parser.add_argument("--synsets", type=int, help="number of per-synset archives")
    parser.add_argument("--files", type=int, help="number of XML files in all")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--thesis-files", type=int, default=2000,
                        help="slice on which the thesis's method is timed")
    parser.add_argument("--cache", type=Path,
                        default=Path(tempfile.gettempdir()) / "localglobal-bench")
    args = parser.parse_args()
    synsets = args.synsets or (200 if args.quick else FULL_SYNSETS)
    files = args.files or round(FULL_FILES * synsets / FULL_SYNSETS)
    thesis_files = min(args.thesis_files, 500 if args.quick else args.thesis_files)

    archive = cached_archive(synsets, files, args.cache, args.workers)

    with tempfile.TemporaryDirectory(prefix="localglobal-bench-run-") as run_dir:
        stage_seconds, summary = read_with_stage(archive, args.workers, Path(run_dir))
    n_files, n_objects = summary["files_read"], summary["objects"]
    print(f"stage ({args.workers} workers): {n_files} files, {n_objects} objects in "
          f"{stage_seconds:.2f} s = {n_files / stage_seconds:,.0f} files/s")

    started = time.perf_counter()
    table = elementtree_loop(archive)
    loop_seconds = time.perf_counter() - started
    print(f"ElementTree loop (1 process): {len(table)} objects in {loop_seconds:.2f} s = "
          f"{n_files / loop_seconds:,.0f} files/s")
    if len(table) != n_objects:
        print(f"warning: the loop found {len(table)} objects, the stage {n_objects}")

    documents = list(_iter_xml(archive, limit=thesis_files))
    started = time.perf_counter()
    thesis_method(documents)
    per_file = (time.perf_counter() - started) / len(documents)
    thesis_seconds = per_file * n_files
    print(f"thesis method on {len(documents)} files: {1 / per_file:,.0f} files/s, "
          f"extrapolated {thesis_seconds / 60:.1f} min for {n_files} files "
          f"(the thesis reported {THESIS_MINUTES:.0f} min on the real archive)")

    print()
    print(f"files/s (stage):                 {n_files / stage_seconds:,.0f}")
    print(f"ratio vs thesis method:          {thesis_seconds / stage_seconds:,.0f}x  "
          "(goal >= 100x)")
    print(f"ratio vs ElementTree loop:       {loop_seconds / stage_seconds:.2f}x  "
          f"(goal >= 1.6x on 2 cores; {args.workers} workers)")
    if synsets == FULL_SYNSETS:
        print(f"ratio vs thesis's 73 min:        {THESIS_MINUTES * 60 / stage_seconds:,.0f}x")
    else:
        print("(a reduced workload: start-up costs weigh more and the thesis slice is "
              "smaller, so these ratios understate the full-scale ones)")


if __name__ == "__main__":
    main()
