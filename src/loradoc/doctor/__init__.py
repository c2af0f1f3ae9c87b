"""loradoc.doctor."""
