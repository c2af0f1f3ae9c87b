"""The compat matrix data, shipped inside the wheel as ``loradoc.compat_data``."""
