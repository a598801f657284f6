"""videocomposer.conversion."""
