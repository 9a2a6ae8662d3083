"""Runnable experiments: ``python -m simulations.NAME --help``."""
