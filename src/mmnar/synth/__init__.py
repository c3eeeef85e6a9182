"""Synthetic MIMIC-IV / MIMIC-IV-Note / MIMIC-CXR-JPG with a known causal mechanism (the default source)."""

from mmnar.synth.dataset import generate

__all__ = ["generate"]
