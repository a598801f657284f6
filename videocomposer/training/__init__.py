"""Training VideoComposer with accelerate: ``accelerate launch -m videocomposer.train``."""
