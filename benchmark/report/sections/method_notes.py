"""The report's method section: how every number was computed."""

from __future__ import annotations

from asebench.report.aggregate import ReportSettings
from asebench.report.sections.common import confidence_label, seed_test_name


def method_paragraphs(settings: ReportSettings) -> list[str]:
    """How every number of the report was computed (shown in the HTML and Markdown reports)."""
    seed_test = seed_test_name(settings)
    return [
        "All numbers are recomputed from the stored per-cell records (predictions with sample ids, per-class "
        "scores, confusion matrices); no model is run. Macro-F1 averages F1 over the task's full class list "
        "(scikit-learn, zero_division=0), so a class that is never predicted counts as 0.",
        "Mean ± std: over the seeds/folds of a method (sample standard deviation; 0 for a single cell). "
        f"{confidence_label(settings)}: percentile bootstrap over test samples with {settings.bootstrap_samples} "
        f"resamples (numpy default_rng, seed {settings.bootstrap_seed}); in each resample every seed's test set is "
        "drawn with replacement independently and the statistic is the mean macro-F1 over seeds, so the interval "
        "describes the reported mean. It covers test-set sampling only, not seed-to-seed variation.",
        "Reference: per dataset and task, the method given with --reference, otherwise the method with the best "
        "mean macro-F1 (ties: first by name). Every other method is compared with it on the same test samples: "
        "cells are paired only when dataset fingerprint, split digest, seed and fold are equal, and predictions are "
        "aligned by sample id.",
        f"Paired bootstrap: {settings.bootstrap_samples} resamples of the test indices, the same indices for both "
        "methods, statistic = mean over paired cells of macro-F1(method) − macro-F1(reference). Two-sided p-value "
        "= 2·min(P(Δ* ≤ 0), P(Δ* ≥ 0)) with a +1 correction, capped at 1. Its Holm-corrected value decides the † "
        f"marks: a method marked † is not significantly different from the reference at alpha = {settings.alpha:g}.",
        "Multiple comparisons: every p-value in the significance tables is Holm-corrected (step-down, Holm 1979) "
        "over the family of all method-vs-reference comparisons of that table (all datasets and tasks together), "
        "one family per test, so the chance of any false 'significant' in a table stays at most alpha whatever the "
        "dependence between the tests; the CSV files keep the raw p-values beside the corrected ones.",
        "McNemar's test compares correctness on the paired samples (discordant counts summed over paired cells): "
        "exact two-sided binomial test when fewer than 25 samples are discordant, otherwise chi-square with "
        "continuity correction (scipy.stats). It tests accuracy, not macro-F1, so it can disagree with the bootstrap "
        "on imbalanced data.",
        f"Across seeds: {seed_test} over the per-seed macro-F1 of the paired cells; n/a with fewer than 2 seeds or "
        "when the differences are constant. With few seeds it has little power; it complements the test-sample "
        "bootstrap, which ignores training randomness. The corrected resampled t-test (the default) scales the "
        "variance of the mean difference by (1/n + n_test/n_train) instead of 1/n, because seeds draw overlapping "
        "splits of one dataset and their scores are not independent (Nadeau and Bengio 2003); the plain paired "
        "t-test (--seed-test ttest) overstates significance in that setting.",
        "Tail analysis: classes are bucketed by training count relative to the largest class (thresholds stored "
        "in each record); bucket F1 is the macro-F1 over the bucket's classes. Per-class tables and figures list "
        "classes by training frequency, most frequent first. Confusion matrices are summed over seeds and "
        "normalised per true class.",
    ]
