"""The level curve: a probe's measure against its levels, per model, the original first.

One function draws every probe, built-in or plugin, from its declaration
(:class:`~localglobal.probes.registry.Probe`): the levels in the order of its curve,
its axis label, its groups (the patch probe's all-patches and single-patch panels).
Probes that share a report section (the removed detail and its inversion) share one
figure. Every function takes :func:`localglobal.analysis.summaries.probe_summary` output.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from localglobal.analysis.figures.style import (
    Styles,
    curve,
    in_style_order,
    measure_of,
    new_figure,
    outside_legend,
    probability_axis,
    require,
    styles_for,
)
from localglobal.probes.catalog import section_title
from localglobal.probes.registry import Probe


def curve_positions(summary: pd.DataFrame, probes: Sequence[Probe]
                    ) -> list[tuple[str, str, str]]:
    """The x positions of a level curve: ``(probe, condition, tick label)``, original first.

    Each probe's conditions come in the order of its curve
    (:meth:`~localglobal.probes.registry.Probe.curve_levels`); conditions the summary
    holds that the declaration does not list follow, by level. With several probes in
    one figure a tick names its probe.
    """
    positions = [("original", "0", "original")]
    for probe in probes:
        rows = summary[summary["probe"] == probe.name]
        present = dict(zip(rows["condition"].astype(str), rows["level"].astype(int),
                           strict=True))
        declared = [lv.label for lv in probe.curve_levels() if lv.label in present]
        extra = sorted(set(present) - set(declared), key=lambda c: present[c])
        for condition in [*declared, *extra]:
            label = condition if len(probes) == 1 else (
                probe.heading if len(present) == 1 else f"{probe.heading} {condition}")
            positions.append((probe.name, condition, label))
    return positions


def level_curve_figure(summary: pd.DataFrame, probes: Sequence[Probe], *,
                       styles: Styles | None = None) -> Figure:
    """Mean measure against the levels of ``probes``, one line per model.

    Parameters
    ----------
    summary : pandas.DataFrame
        :func:`localglobal.analysis.summaries.probe_summary` output.
    probes : sequence of Probe
        The probes of one report section (usually one).
    styles : mapping, optional
        Model → (colour, marker), the run's (:func:`~.style.model_styles` of its model
        order); None: by name.

    Returns
    -------
    matplotlib.figure.Figure
        One panel per group the probes declare and the summary holds; the original is
        the first point of every line, at the left.
    """
    rows = require(summary, "summary")
    names = [p.name for p in probes]
    drawn = require(rows[rows["probe"].isin(names)], f"{' or '.join(names)} predictions")
    original = rows[rows["probe"] == "original"]
    positions = curve_positions(rows, probes)
    index = {(p, c): k for k, (p, c, _) in enumerate(positions)}
    titles: dict[str, str] = {}
    for probe in probes:
        titles.update(probe.group_titles())
    groups = [g for g in titles if g in set(drawn["group"])] or [""]
    fig, axes = new_figure(len(groups), panel=(5.0 if len(groups) == 1 else 4.2, 3.4))
    styles = styles_for(rows["model"], styles)
    for ax, group in zip(axes, groups, strict=True):
        for model in in_style_order(drawn["model"], styles):
            part = pd.concat([original[original["model"] == model],
                              drawn[(drawn["model"] == model) & (drawn["group"] == group)]])
            x = np.array([index.get((p, str(c)), np.nan)
                          for p, c in zip(part["probe"], part["condition"], strict=True)])
            keep = np.isfinite(x)
            curve(ax, x[keep], part[keep], styles[model], model)
        ax.set_xticks(range(len(positions)), [label for _, _, label in positions])
        if len(positions) > 6:
            ax.tick_params(axis="x", labelrotation=45)
        ax.set_xlabel(probes[0].axis_label if len(probes) == 1 else "image")
        probability_axis(ax, measure_of(rows))
        heading = section_title(probes)
        ax.set_title(f"{heading}: {titles[group]}" if titles.get(group) else heading)
    outside_legend(fig, axes)
    return fig


__all__ = ["curve_positions", "level_curve_figure"]
