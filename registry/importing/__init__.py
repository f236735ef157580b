"""Bringing models over from another registry: its reader, and the run that writes them."""
