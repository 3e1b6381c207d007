"""The ``[analysis]`` table: how analyze tests and draws, and the hypotheses it tests.

A :class:`Hypothesis` is one directional, paired comparison (``[[analysis.hypotheses]]``);
:class:`AnalysisSection` holds them with the significance level, the resamples and the
patch interaction's settings.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from localglobal.config.config_sections import Section


class Hypothesis(Section):
    """One directional, paired comparison: of two models, or of one model's probed images
    with its originals.

    The compared value is ``measure`` (a column of predictions or attributions) of
    ``model_a`` minus that of ``model_b``, paired by image, level and variant. With
    ``relative_to = "original"`` each value is first replaced by its drop from the
    same image's unperturbed value (original − perturbed), so "hurts more" reads as
    a larger drop. ``alternative`` is the direction of the mean of a − b.

    Measures free of baseline and floor effects: ``normalize = "ratio"`` divides the
    drop by the original ((original − perturbed) / original, the share lost; needs
    ``relative_to = "original"``); ``measure = "true_logit"`` with ``relative_to``
    compares logit drops, which have no floor; ``subset = "both-correct"`` keeps only
    the images both models classify correctly on the original, so that clean
    accuracy does not pass for robustness.

    ``source = "probe-effect"`` tests one model: whether ``probe`` lowers ``model_a``'s
    ``measure`` relative to the original (each value is the drop from the image's
    original, compared with no change); ``model_b`` is then not given.
    """

    id: str
    description: str = ""
    source: Literal["predictions", "attributions", "interaction", "probe-effect"] = "predictions"
    probe: str | None = None
    levels: list[int | str] | None = Field(
        None, description="the probe's levels by label (28, \"c50\"); None means all")
    measure: str = "true_prob"
    relative_to: Literal["none", "original"] = "none"
    model_a: str
    model_b: str | None = Field(None, description="the second model (not given for "
                                "source = 'probe-effect')")
    alternative: Literal["greater", "less", "two-sided"] = "greater"
    control: str = Field("none", description="attribution rows to use (source=attributions)")
    proxy: str = Field("canny", description="shape proxy of the attribution rows to use: "
                       "canny (the edges), or outline (the true outline, toy world)")
    normalize: Literal["none", "ratio"] = Field(
        "none", description="ratio: the drop divided by the original value "
        "(needs relative_to = 'original')")
    subset: Literal["all", "both-correct"] = Field(
        "all", description="both-correct: only images both models classify correctly on "
        "the original")

    @model_validator(mode="before")
    @classmethod
    def _probe_effect_drops(cls, data: Any) -> Any:
        # A probe's effect on one model is always its drop from the original.
        if isinstance(data, dict) and data.get("source") == "probe-effect":
            data = {"relative_to": "original", **data}
        return data

    @model_validator(mode="after")
    def _check_transform(self) -> Hypothesis:
        one_model = self.source == "probe-effect"
        if one_model and self.model_b is not None:
            raise ValueError(f"hypothesis {self.id}: source = 'probe-effect' tests one model "
                             "(model_a); remove model_b")
        if not one_model and self.model_b is None:
            raise ValueError(f"hypothesis {self.id}: source = {self.source!r} compares two "
                             "models; give model_b")
        if one_model and (self.probe is None or self.relative_to != "original"):
            raise ValueError(f"hypothesis {self.id}: source = 'probe-effect' needs a probe "
                             "and compares with the original (relative_to = 'original')")
        if self.normalize == "ratio" and self.relative_to != "original":
            raise ValueError(f"hypothesis {self.id}: normalize = 'ratio' divides the drop "
                             "from the original by the original value, so it needs "
                             "relative_to = 'original'")
        if self.source == "interaction" and (self.relative_to, self.normalize) != ("none",
                                                                                   "none"):
            raise ValueError(f"hypothesis {self.id}: the patch interaction's drops are "
                             "always taken from the original; relative_to and normalize "
                             "do not apply to source = 'interaction'")
        return self


class AnalysisSection(Section):
    """How analyze tests and draws: α, resamples, the Wilcoxon zero rule, the patch
    interaction and the hypotheses (unset: those that fit the run)."""

    alpha: float = Field(0.05, gt=0, lt=1)
    bootstrap: int = Field(2000, ge=100, description="bootstrap resamples for intervals")
    zero_method: Literal["wilcox", "pratt", "zsplit"] = Field(
        "wilcox", description="zero differences in the Wilcoxon test: wilcox drops them, "
        "pratt ranks then drops them, zsplit splits their ranks between the signs"
    )
    interaction_measure: str = Field(
        "true_logit", description="predictions column the patch interaction uses"
    )
    interaction_test: Literal["permutation", "bootstrap"] = Field(
        "permutation", description="p of the image-level patch-interaction test: swap the "
        "two models' values within images, or bootstrap over images"
    )
    figure_dpi: int = Field(100, ge=30, description="resolution of the PNG figures")
    contact_sheets: int = Field(3, ge=0, description="images shown as probe contact sheets")
    hypotheses: list[Hypothesis] | None = Field(
        None, description="unset: the thesis hypotheses (configs/thesis.toml) whose models, "
        "probes and levels are all in the run, else one probe-effect hypothesis per model "
        "and probe; a list (empty: none) is tested as given, and a hypothesis naming what "
        "the run lacks is an error")

    @field_validator("hypotheses")
    @classmethod
    def _unique_ids(cls, hypotheses: list[Hypothesis] | None) -> list[Hypothesis] | None:
        if hypotheses is None:
            return None
        ids = [h.id for h in hypotheses]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"hypothesis ids must be unique; repeated: {duplicates}")
        return hypotheses
