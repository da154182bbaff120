"""Client for a specvlm server (OpenAI-compatible chat completions with video); needs httpx only."""

from ._version import __version__
from .client import AsyncClient, Client
from .content import image_part, text_part, video_part
from .errors import (APIConnectionError, APIError, APITimeoutError, AuthenticationError, BadRequestError,
                     NotFoundError, RateLimitError, ServerError)
from .streaming import AsyncStream, Stream
from .types import (ChatCompletion, ChatCompletionChunk, Choice, ChoiceLogprobs, ChunkChoice, Delta, Message,
                    Metrics, Model, SpeculativeDecoding, Timing, TokenLogprob, TopLogprob, Usage)

__all__ = [
    "__version__", "Client", "AsyncClient", "Stream", "AsyncStream",
    "video_part", "image_part", "text_part",
    "APIError", "BadRequestError", "AuthenticationError", "NotFoundError", "RateLimitError", "ServerError",
    "APIConnectionError", "APITimeoutError",
    "ChatCompletion", "Choice", "Message", "ChatCompletionChunk", "ChunkChoice", "Delta", "Usage", "Metrics",
    "SpeculativeDecoding", "Timing", "Model", "ChoiceLogprobs", "TokenLogprob", "TopLogprob",
]
