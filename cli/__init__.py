"""The ``sv6d`` command line."""
