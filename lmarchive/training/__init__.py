"""Training the byte-level LM offline: data loading and the float-to-exact training script."""
