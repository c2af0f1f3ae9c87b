"""loradoc.compat."""
