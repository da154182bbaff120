"""The only async/threading code: request queue, the GPU worker, streams, metrics."""
