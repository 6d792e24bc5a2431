"""lakeforge's trainer process: see docs/design.md#the-trainer-protocol and trainer/README.md."""

__version__ = "0.1.0"
