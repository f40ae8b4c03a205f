"""fbdsl: a declarative language and engine for triggered customer feedback."""

__version__ = "0.1.0"
