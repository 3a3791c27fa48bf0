"""Out-of-core probing: slices larger than memory, read in row chunks, never held whole.

The in-memory path (``probe.search``) holds one (layer, pooling) slice as float32. That is
fine for pooled sentence vectors, but a *token-level* slice (every word token a row) of a
large split, or the pooled vectors of a very large split, can be many times a laptop's RAM.
This package probes such slices with memory bounded by the chunk size and the hidden size:

* ``rows``: the row chunks of a slice (pooled rows, or ``tokens``), read one at a time;
* ``budget``: how much memory the process may still use (decides ``--out-of-core auto``);
* ``problem``: the honest protocol of ``probe.search.problem`` (seeded inner split by
  *example*, training-only standardisation, balanced weights) as passes over chunks, and the
  Gram screen from moments summed chunk by chunk;
* ``newton``: exact logistic / ridge probes (scikit-learn's objectives) fitted by Newton
  steps whose gradient and Hessian are summed over chunks, many candidates per pass;
* ``scoring``: task metrics accumulated over chunks (confusion counts, Pearson sums);
* ``methods``: ``full``, ``rank``, ``pairs`` and ``greedy`` on top of these; ``backward`` and
  ``random`` (fitted on the in-memory baseline's capped rows, gathered in one pass) in their
  own modules; ``runners`` names them all.

Memory: O(H^2 + chunk_rows * H) for the screen and the all-dims probe, plus one float per
eval row per reported probe (the exact eval metrics, Spearman included, need them) and the
random baseline's 2,048 fit rows. No pass materialises the slice.
"""

# The search methods that run out of core (``runners.RUNNERS`` implements exactly these);
# kept here so the sweep can plan without importing the numerical modules. Word rows also
# run ``control`` out of core (``probe.words.streamed``).
SUPPORTED_METHODS: tuple[str, ...] = ("full", "rank", "pairs", "greedy", "backward", "random")
