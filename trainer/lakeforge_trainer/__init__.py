"""lakeforge's trainer process: see ../../shared/DESIGN.md section 4."""

__version__ = "0.1.0"
