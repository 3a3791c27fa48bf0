"""fewdims ``probe``: everything that runs on cached features, without torch.

Importing this package must never import torch or transformers (a test enforces it), so a
laptop can probe caches made elsewhere. Heavy submodules are imported lazily by their users.
"""

__version__ = "0.1.0"
