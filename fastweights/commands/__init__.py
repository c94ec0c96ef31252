"""The ``fwp`` words, one module each: ``add_arguments(parser)`` and ``run(args) -> int``.

A word's module parses its options, calls the library and prints for the user; what it computes
lives below (``train``, ``bench``, ``analysis``, ...). ``fastweights.cli`` lists them.
"""
