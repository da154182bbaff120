"""The OpenAI-compatible HTTP layer: request models, SSE, thin routes, the app factory."""
