"""Word-level probing: per-word labels (UPOS, XPOS, DEPREL) from CoNLL-U, word rows pooled
from subword tokens, multi-class dimension search and per-word-type control tasks.

* ``table``: the word table a cache stores beside its tokens (read and written by
  ``probe.cache``, the one module that knows the layout);
* ``rows``: a word's vector at a layer, pooled from its subwords (first, last, mean);
* ``problem``: word rows of a train and an eval cache as one multi-class
  :class:`~probe.search.problem.Problem` (label vocabularies matched by name);
* ``control``: Hewitt & Liang control tasks per word type, and selectivity;
* ``spec``: a word sweep's settings (``WordSweepSpec``, the word search defaults);
* ``sweep``: the layer x subword-pooling x method grid (what ``fewdims probe --label`` runs);
* ``streamed``: a group of that grid out of core, for word rows that do not fit in memory.
"""
