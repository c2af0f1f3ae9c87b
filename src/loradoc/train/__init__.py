"""loradoc.train."""
