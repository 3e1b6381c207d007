"""The ``annotations`` stage: ImageNet bounding boxes (VOC XML) into ``boxes.parquet``.

The source (``data.annotations``) is streamed once (see
:mod:`localglobal.data.annotation_sources`); its XML files are parsed shard by shard
on the process pool or Ray, and finished shards are kept, so an interrupted read
resumes. Every XML file is an item: a malformed one, or one without a usable box, is
a bad item (reported with its reason, counted, skipped); so are members refused while
listing (unsafe paths, links, copies, members past a cap) and corrupt inner archives.
A corrupt *outer* archive stops the stage with an error naming it, and no
``boxes.parquet`` is left behind. Without a configured source an empty table is
written, so that ``localglobal run`` works for images without boxes
(``index.require_box = false``).
"""

from __future__ import annotations

import dataclasses
import tarfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from localglobal.errors import ArchiveError, MissingInputError, StageError
from localglobal.io.tar import TarLimits
from localglobal.pipeline.artifacts import Artifact
from localglobal.pipeline.estimate import Estimate
from localglobal.pipeline.fingerprint import input_fingerprint
from localglobal.pipeline.stage import stage
from localglobal.pipeline.stage_options import WORKERS, Option
from localglobal.stages.index import own_data_start

if TYPE_CHECKING:
    import pandas as pd

    from localglobal.config import RunConfig
    from localglobal.data.boxes import XmlItem
    from localglobal.pipeline.context import StageContext

FILES_PER_SHARD_ITEM = 32
"""An XML file is tiny: a shard holds this many times ``run.shard_size`` files."""

WINDOW_BYTES = 64 << 20
"""About how many bytes of XML files are listed before they are parsed on the pool."""

SUMMARY_KEYS = ("files_read", "objects", "files_with_boxes", "files_skipped",
                "objects_skipped", "archives_skipped", "boxes_clipped")


def limits_of(config: RunConfig) -> TarLimits:
    """The archive caps of ``[annotations]``, in bytes."""
    section = config.annotations
    return TarLimits(max_member_bytes=int(section.max_member_mb * (1 << 20)),
                     max_total_bytes=int(section.max_total_gb * (1 << 30)),
                     max_ratio=section.max_ratio)


def _params(config: RunConfig) -> dict[str, Any]:
    return {"source": input_fingerprint(config.data.annotations),
            "limits": config.annotations.model_dump(mode="json")}


def _read_shard(items: list[XmlItem]) -> tuple[pd.DataFrame, list[tuple[str, str]]]:
    """One shard's XML files: their objects table, and the files skipped as bad input."""
    from localglobal.data.boxes import read_xml_items

    return read_xml_items(items)


def _item_id(item: XmlItem) -> str:
    return item.source


def _set_source(config: RunConfig, source: Path, given: Mapping[str, Any]) -> RunConfig:
    config.data.annotations = str(source.expanduser().resolve())
    return config


SOURCE = Option("source", (), Path, "Annotation.tar.gz, or a folder of archives or of VOC "
                "XML files", metavar="SOURCE", apply=_set_source)


def _estimate(config: RunConfig, earlier: dict[str, Estimate]) -> Estimate:
    return Estimate("annotations", _annotation_files(config.data.annotations), None, None,
                    "boxes of every annotation file")


def _annotation_files(source: str | None) -> int | None:
    """XML files of a folder or an archive (None where they cannot be counted cheaply)."""
    if not source:
        return None
    path = Path(source).expanduser()
    if path.is_dir():
        return sum(1 for _ in path.rglob("*.xml"))
    try:
        with tarfile.open(path) as archive:
            return _xml_members(archive)
    except (OSError, tarfile.TarError):
        return None


def _xml_members(archive: tarfile.TarFile) -> int:
    """XML members of an archive, also inside the per-class archives it holds (ImageNet's)."""
    count = 0
    for member in archive.getmembers():
        name = member.name.lower()
        if not member.isfile():
            continue
        if name.endswith(".xml"):
            count += 1
        elif name.endswith((".tar", ".tar.gz", ".tgz")):
            with tarfile.open(fileobj=archive.extractfile(member)) as inner:
                count += _xml_members(inner)
    return count


@stage("annotations",
       writes=(Artifact("boxes", "boxes.parquet", "table",
                        "one row per annotated object: its VOC box as written (clipped to "
                        "the image), flags and source file"),),
       params=_params, version=4, options=(SOURCE, WORKERS), estimate=_estimate,
       starts_run=True, start_config=own_data_start,
       description="Read ImageNet bounding boxes into boxes.parquet (one row per object).")
def annotations(ctx: StageContext) -> dict[str, Any]:
    """Read ``data.annotations`` into ``boxes.parquet``; the report lists what was skipped."""
    import pandas as pd

    from localglobal.data.annotation_sources import iter_source, source_kind, windows
    from localglobal.data.boxes import Problem, summarize

    source = ctx.config.data.annotations
    if source and not Path(source).expanduser().exists():
        # Before anything is removed: a typo keeps the previous result.
        raise MissingInputError(f"{source}: annotation source not found; check "
                                "data.annotations or run `localglobal annotations SOURCE "
                                f"--run {ctx.run.root}`")
    # Outputs of an earlier source are stale from here on: a failure must not leave
    # them looking like this run's result.
    ctx.run.artifact_path("boxes").unlink(missing_ok=True)
    ctx.run.path(ctx.stage.report_name).unlink(missing_ok=True)
    if not source:
        ctx.log("annotations: no source configured (data.annotations); writing an empty "
                "boxes table", style="yellow")
        boxes, details = summarize(pd.DataFrame())
        ctx.run.write("boxes", boxes)
        ctx.details.update({"source": None, **details})
        return {key: details[key] for key in SUMMARY_KEYS}

    problems: list[Problem] = []
    frames: list[pd.DataFrame] = []
    per_shard = FILES_PER_SHARD_ITEM * ctx.config.run.shard_size
    key = {"source": input_fingerprint(source), "limits": dataclasses.asdict(limits_of(ctx.config))}
    try:
        # Whole shards per window, so that shards do not depend on the windows; memory
        # holds one window's files.
        for items in windows(iter_source(source, limits_of(ctx.config)), per_shard, problems,
                             max_bytes=WINDOW_BYTES):
            frames.append(ctx.map_shards(_read_shard, items, key=key, item_id=_item_id,
                                         shard_size=per_shard, description="annotations"))
    except ArchiveError as error:
        raise StageError(f"{error}; no boxes were written: check the archive or download it "
                         "again, then run the stage again") from None
    skipped = [p for p in problems if p.kind != "ignored"]
    ctx.count_items(len(skipped), 0)
    for problem in skipped:
        ctx.bad_item(problem.name, problem.reason)
    objects = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    boxes, details = summarize(objects, problems)
    ctx.run.write("boxes", boxes)
    ctx.details.update({"source": str(Path(source).expanduser()),
                        "source_kind": source_kind(source), **details})
    ctx.log(f"annotations: {details['files_read']} files, {details['objects']} objects, "
            f"{details['files_skipped']} files and {details['objects_skipped']} objects "
            f"skipped, {details['archives_skipped']} archives skipped, "
            f"{details['boxes_clipped']} boxes clipped")
    return {key: details[key] for key in SUMMARY_KEYS}
