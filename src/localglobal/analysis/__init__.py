"""Analysis of a run: hypothesis tests, patch interaction, shape bias, figures and report.

Modules (imported on use, so that importing the package stays light):

- :mod:`~localglobal.analysis.hypotheses` — paired, directional tests of two models
  (:func:`~localglobal.analysis.hypotheses.evaluate_hypotheses`, Holm correction);
- :mod:`~localglobal.analysis.interaction` — do single-patch drops add up to the
  all-patches drop (:func:`~localglobal.analysis.interaction.patch_interaction`);
- :mod:`~localglobal.analysis.shape_bias` — Geirhos et al.'s cue-conflict shape bias;
- :mod:`~localglobal.analysis.summaries` — means with intervals per model and level;
- :mod:`~localglobal.analysis.stats` — bootstrap and Wilson intervals;
- :mod:`~localglobal.analysis.figures` — pure table → figure functions, PNG + PDF;
- :mod:`~localglobal.analysis.analyze` — the ``analyze`` stage;
- :mod:`~localglobal.analysis.report` — the ``report`` stage (HTML and Markdown).
"""
