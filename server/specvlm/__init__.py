"""specvlm: lossless SpecVLM speculative decoding for video LLMs behind an OpenAI-compatible API."""

__version__ = "0.1.0"
