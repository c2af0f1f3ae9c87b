"""One training run: the Trainer, its callbacks, checkpoints, signals, outputs."""
