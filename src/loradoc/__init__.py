"""loradoc: an environment doctor and a packed LoRA trainer for fine-tuning language models."""

__version__ = "0.1.0"
