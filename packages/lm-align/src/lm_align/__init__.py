"""lm-align."""

__all__: list[str] = []
