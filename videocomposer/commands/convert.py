"""`videocomposer convert` and `videocomposer convert-modelscope` (implemented in `videocomposer.conversion`)."""

from videocomposer.conversion.command_line import add_convert_parsers as register

__all__ = ["register"]
