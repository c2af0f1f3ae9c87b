"""loradoc.matrix."""
