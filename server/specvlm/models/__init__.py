"""Model loading and per-family adapters (the only code that touches transformers models)."""
