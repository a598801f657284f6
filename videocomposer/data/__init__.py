"""videocomposer.data."""
