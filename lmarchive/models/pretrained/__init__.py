"""Imported pretrained LMs (SmolLM2-135M) in an exact integer engine."""
