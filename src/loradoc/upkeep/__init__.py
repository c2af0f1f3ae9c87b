"""Keeping the compat matrix honest: the ``loradoc matrix`` commands (verify, lock, ci)."""
