"""Drawing the analysis's figures: each saved as PNG and PDF and recorded, or skipped
with the reason; stale figures of an earlier run removed; probe contact sheets.

A figure whose input is absent is recorded as skipped with the reason. One that breaks
fails the analysis unless it is optional, once the others are drawn; an optional one
is skipped, and the report says it is missing and why. A full disk fails the stage.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from localglobal.analysis import figures as fig
from localglobal.analysis.figure_specs import FigureSpec
from localglobal.analysis.record import AnalysisRecord
from localglobal.console import progress_bar
from localglobal.errors import FigureError, is_machine_error

CONTACT_CAPTION = "The original, every probe at every level, the edge mask and the box."


def draw_figure(spec: FigureSpec, folder: Path, root: Path, dpi: int, record: AnalysisRecord,
                log: Callable[[str], None]) -> None:
    """Draw one figure into ``folder`` as PNG and PDF and record it, or why it was skipped.

    Parameters
    ----------
    spec : FigureSpec
        The figure.
    folder : Path
        Where its files go (``figures/``).
    root : Path
        The run directory: recorded paths are relative to it.
    dpi : int
        PNG resolution.
    record : AnalysisRecord
        Receives the figure or the reason it is absent.
    log : callable
        Prints a warning for a figure that broke.
    """
    try:
        written = fig.save_figure(spec.build(), folder / spec.name, dpi=dpi)
    except FigureError as error:  # its input is missing or empty: skipped, saying why
        reason = str(error)
    except Exception as error:  # one broken figure must not cost the whole analysis
        if is_machine_error(error):  # a full disk is not the figure's fault
            raise
        reason = f"failed: {type(error).__name__}: {error}"
        if not spec.optional:
            raise FigureError(f"figure {spec.name} ({spec.title}) {reason}") from error
        log(f"figure {spec.name} {reason}; it is optional: the report says it is missing")
    else:
        record.figures.append({
            "name": spec.name, "section": spec.section, "title": spec.title,
            "caption": spec.caption,
            **{p.suffix.lstrip("."): str(p.relative_to(root)) for p in written},
        })
        return
    record.skipped(spec.name, spec.section, spec.title, reason)


def draw_figures(specs: Sequence[FigureSpec], folder: Path, root: Path, dpi: int,
                 record: AnalysisRecord, log: Callable[[str], None]) -> None:
    """Draw every figure (see :func:`draw_figure`) with a progress bar.

    Raises
    ------
    FigureError
        A figure that is not optional broke; the others were drawn first.
    """
    folder.mkdir(parents=True, exist_ok=True)
    broken: list[str] = []
    with progress_bar(transient=True) as bar:
        task = bar.add_task("figures", total=len(specs))
        for spec in specs:
            try:
                draw_figure(spec, folder, root, dpi, record, log)
            except FigureError as error:
                broken.append(str(error))
            bar.advance(task)
    if broken:
        raise FigureError("; ".join(broken))


def remove_stale_figures(folder: Path, specs: Sequence[FigureSpec],
                         record: AnalysisRecord) -> None:
    """Delete an earlier run's version of each figure that was not drawn this time.

    Only the analysis's own figure files go; contact sheets (which ``localglobal show``
    also writes) are left alone.
    """
    drawn = {entry["name"] for entry in record.figures}
    for spec in specs:
        if spec.name not in drawn:
            for suffix in (".png", ".pdf"):
                (folder / (spec.name + suffix)).unlink(missing_ok=True)


def contact_sheets(write: Callable[[str, Path], Path], image_ids: Sequence[str],
                   folder: Path, root: Path, record: AnalysisRecord) -> None:
    """Write a probe contact sheet per image and record each, or why it failed.

    Parameters
    ----------
    write : callable
        ``write(image_id, out) -> path`` (the run's
        :func:`localglobal.probes.contact.write_contact_sheet`).
    image_ids : sequence of str
        The images.
    folder : Path
        Where the sheets go (``figures/contact/``).
    root : Path
        The run directory: recorded paths are relative to it.
    record : AnalysisRecord
        Receives each sheet or the reason it is absent.
    """
    for image_id in image_ids:
        name = f"contact-{image_id}"
        try:
            path = Path(write(image_id, folder / f"{image_id}.png")).resolve()
        except Exception as error:  # a missing perturbation should not stop the analysis
            if is_machine_error(error):
                raise
            record.skipped(name, "probes", f"Contact sheet {image_id}",
                           f"failed: {type(error).__name__}: {error}")
            continue
        record.figures.append({
            "name": name, "section": "probes", "title": f"Probes of {image_id}",
            "caption": CONTACT_CAPTION,
            "png": str(path.relative_to(root) if path.is_relative_to(root) else path),
        })
