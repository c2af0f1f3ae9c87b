"""Tokenizer, base model, LoRA adapter and the attention that keeps packed examples apart."""
