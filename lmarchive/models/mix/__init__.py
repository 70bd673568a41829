"""The mixing model: adaptive context and match models (and optionally an LM), mixed bit by bit."""
