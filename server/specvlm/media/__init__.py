"""The only video/network I/O: fetching media bytes and decoding frames."""
