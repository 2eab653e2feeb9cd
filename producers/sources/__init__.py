"""Event sources: plain iterables of `Event`, one module each."""
