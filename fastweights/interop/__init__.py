"""Converters from other libraries' layers and checkpoints: ``fastweights.interop.fla``."""
