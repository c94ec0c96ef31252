"""Looking inside fast weight programmers: recordings, measures, traffic, graphs, attribution.

- ``record(model, inputs, ...) -> Recording``: every layer's rule inputs and fast weights at
  every kept step (hooks plus a replay of each layer's ``step``); ``Recording.save``/``load``.
- ``fastweights.analysis.measures``: norms, ranks, write strength, delta-rule corrections,
  retrieval errors of the recorded fast weights.
- ``fastweights.analysis.introspection``: for the self-referential nets (1993 net, SRWM), the
  integral over time of each weight minus the net's latest reading of it.
- ``fastweights.analysis.traffic``: the traffic through every fast connection at every step.
- ``fastweights.analysis.graph``: the fast net as a graph and its rewiring (``graph`` extra).
- ``fastweights.analysis.attribution``: gradients to inputs and to fast weights; the equivalent
  attention matrix of a linear FWP.
- ``fastweights.analysis.dual``: the dual form of an SGD-trained ``nn.Linear`` (``record_dual``,
  ``spotlight``): its output as attention over the training patterns.
- ``fastweights.analysis.plots``: the pictures (``plots`` extra); ``weights_gif`` the animation;
  ``write_report``/``render_report`` the self-contained HTML report (``fwp inspect``).

Only the light modules load here; the graph view imports networkx when it is used, the pictures
and the report load (and import matplotlib) on first use of their names.
"""

from importlib import import_module
from typing import Any

from fastweights.analysis.record import record
from fastweights.analysis.recording import LayerRecording, Recording

# name -> module, loaded on first access (PEP 562) so that importing the package stays light
_LAZY = {
    "render_report": "fastweights.analysis.report",
    "write_report": "fastweights.analysis.report",
    "weights_gif": "fastweights.analysis.animation",
    "PICTURES": "fastweights.analysis.plots",
    "pictures_for": "fastweights.analysis.plots",
    "draw": "fastweights.analysis.plots",
    "srnet_introspection": "fastweights.analysis.introspection",
    "srwm_introspection": "fastweights.analysis.introspection",
    "record_dual": "fastweights.analysis.dual",
    "spotlight": "fastweights.analysis.dual",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["LayerRecording", "Recording", "record", *_LAZY]
