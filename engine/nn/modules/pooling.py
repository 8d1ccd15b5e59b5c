"""Filled in by the vision/sequence layers work (issue 3)."""

__all__: list[str] = []
