"""Contrastive heads per dimension, trained on cached backbone features (see ``encoder.contrastive.train``).

Public names: ``FeatureCache`` (cache), ``ContrastiveHeads`` (a ``Heads`` implementation), ``train_heads``,
``TrainConfig`` (train), ``TextEncoder`` (text), ``evaluate_heads`` (evaluate), ``generated_corpus``.
Submodules import torch / sentence-transformers lazily.
"""
