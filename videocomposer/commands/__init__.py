"""Sub-commands of the `videocomposer` CLI: one module per command, each with `register(subparsers)`.

Modules here must import heavy dependencies (torch, diffusers) inside their command function, not at import time,
so that `videocomposer --help` stays fast.
"""
