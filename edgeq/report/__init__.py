"""Turning results into what people read. Host only."""
