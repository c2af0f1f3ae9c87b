"""The training config: one typed schema (Axolotl's key names), loading, validation, overrides."""
