"""Pure tensor code for the algorithm: no I/O, no model imports."""
