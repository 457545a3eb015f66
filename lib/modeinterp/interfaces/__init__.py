"""Interfaces: figures, the notebooks' preamble, and the diffusers adapter (optional: needs diffusers)."""
