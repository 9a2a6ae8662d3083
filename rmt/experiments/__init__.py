"""The library half of the simulations: ``rmt.experiments.NAME`` holds the cells, summaries and
printed reports of ``python -m simulations.NAME``, which keeps its command line, figure layout and
``main``. Everything here is importable by a sweep's workers and tested as rmt's API.
"""
