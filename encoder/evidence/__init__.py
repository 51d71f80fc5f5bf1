"""The evidence backbone: cheap, explainable measurements of a video's structure (CPU, the default).

One module per measurement family (``colour``, ``motion``, ``faces``, ``text``, ``audio``, ``editing``,
``narrative``), the fixed feature layout (``features``), tag emission with documented thresholds
(``tagging``) and the backbone that ties them together (``backbone.EvidenceBackbone``).
"""
