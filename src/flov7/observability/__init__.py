"""Logs (and, as they come, metrics and tracing): how Flov7 tells operators what it does."""
