"""Analysis of a run: hypothesis tests, patch interaction, shape bias, figures and report.

Modules (imported on use, so that importing the package stays light):

- :mod:`~localglobal.analysis.hypotheses` — directional tests of two models on the image
  level (:func:`~localglobal.analysis.hypotheses.evaluate_hypotheses`, Holm, the verdicts);
- :mod:`~localglobal.analysis.hypothesis_pairs` — what a hypothesis compares: checked
  against the run, selected, transformed (drops, relative drops, subsets) and paired;
- :mod:`~localglobal.analysis.interaction` — do single-patch drops add up to the
  all-patches drop (:func:`~localglobal.analysis.interaction.patch_interaction`), and the
  image-level comparison of two models (:func:`~localglobal.analysis.interaction.interaction_test`);
- :mod:`~localglobal.analysis.shape_bias` — Geirhos et al.'s cue-conflict shape bias;
- :mod:`~localglobal.analysis.summaries` — means with intervals per model and level;
- :mod:`~localglobal.analysis.statistics` — paired tests, Holm, bootstrap and Wilson
  intervals, correlations;
- :mod:`~localglobal.analysis.figures` — pure table → figure functions, PNG + PDF;
- :mod:`~localglobal.analysis.figure_inputs`, :mod:`~localglobal.analysis.figure_specs`,
  :mod:`~localglobal.analysis.figure_drawing`, :mod:`~localglobal.analysis.densities`,
  :mod:`~localglobal.analysis.gallery`, :mod:`~localglobal.analysis.predictions`,
  :mod:`~localglobal.analysis.record` — what the ``analyze`` stage
  (:mod:`localglobal.stages.analyze`) draws and records; the report is
  :mod:`localglobal.report`.
"""
