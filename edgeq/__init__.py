"""edgeq: quantize models, push them to ARM boards, measure how they run there."""

__version__ = "0.1.0"
