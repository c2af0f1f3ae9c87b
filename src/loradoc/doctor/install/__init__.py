"""``loradoc doctor install``: plan the stack from the matrix, apply it with pip, lock, verify."""
