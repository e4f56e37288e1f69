"""The TFX pipeline definition and its configuration."""
