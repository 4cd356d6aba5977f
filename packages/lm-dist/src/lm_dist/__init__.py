"""lm-dist."""

__all__: list[str] = []
