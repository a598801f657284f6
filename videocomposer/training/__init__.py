"""videocomposer.training."""
