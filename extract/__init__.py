"""fewdims ``extract``: everything that runs the model (torch and transformers live here).

``extract.extractor.extract_split`` fills a feature cache; ``extract.finetune`` fine-tunes an
encoder with a head restricted to selected dimensions. Submodules import torch; this package
file does not, so ``fewdims --help`` stays fast.
"""
