"""The values training options accept, kept free of torch so that ``videocomposer train --help`` and the argument
checks run before any heavy import."""

#: ``--stage``: text-to-video (no conditions) or compositional (STC conditions with condition dropout).
STAGES = ("t2v", "compositional")
#: ``--trainable``: which parameters train.
TRAINABLE = ("all", "stc", "temporal", "lora", "lowrank_temporal")
#: The original's condition dropout probabilities: each condition 0.5, all-zero 0.1, all-keep 0.1.
ORIGINAL_DROPOUT = {"p": 0.5, "p_all_zero": 0.1, "p_all_keep": 0.1}
