"""SV6D core: the six dimensions, the record, the tag vocabulary.

Everything else (encoder, indexer, ranker, api, cli) imports from here; this package imports none of them
at module level, so ``import sv6d`` stays light.
"""

from sv6d.dimensions import DIMENSIONS, Dimension
from sv6d.errors import SV6DError

__all__ = ["DIMENSIONS", "Dimension", "SV6DError"]
__version__ = "0.1.0"
