"""videocomposer.metrics."""
