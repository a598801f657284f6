"""videocomposer.motion."""
