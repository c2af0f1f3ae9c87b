"""``probe()``: read this machine into a Snapshot without importing torch."""
