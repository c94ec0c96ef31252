"""The efficacy benchmark (``fwp bench efficacy``): the papers' findings at laptop scale.

``experiments`` holds the suites as data (``spec`` defines the vocabulary), ``protocol`` the
measurement of one (setting, arm) — matched sizes, learning rate chosen on validation, seeds,
separate test and length-generalisation splits (``evaluation``) — ``stats`` the summaries over
seeds, ``findings`` capacities and verdicts on the published claims, ``runner`` the suite (worker
processes), ``report`` and ``figures`` the written results, ``estimate`` a run-time prediction and
``command`` the CLI. Protocol and results: docs/results.md.
"""
