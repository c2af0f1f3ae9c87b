"""loradoc.doctor.rules."""
