"""lm-tok."""

__all__: list[str] = []
