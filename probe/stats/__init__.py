"""Uncertainty for eval scores: bootstrap confidence intervals and paired tests.

``bootstrap`` resamples eval examples (or whole sentences, for token rows) with one
multinomial count matrix shared by every metric and every candidate, so the CIs of a whole
cell cost a few matrix products (``spearman``: rank statistics from the same counts, without
sorting a resample). ``paired`` compares two prediction vectors scored on the
same examples (paired bootstrap, exact McNemar), a selected subset with random subsets, and
corrects a family of p-values (Holm). ``attach`` puts intervals and predictions on result
cells. Everything here is numpy/scipy only (``probe`` stays torch-free).
"""

from probe.stats.bootstrap import BootstrapSpec, Interval, metric_intervals, resample_weights

__all__ = ["BootstrapSpec", "Interval", "metric_intervals", "resample_weights"]
