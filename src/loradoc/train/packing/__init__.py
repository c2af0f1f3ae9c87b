"""Packing: bins of examples, the sampler that yields them, and the collators."""
