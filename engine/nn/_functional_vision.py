"""Vision and sequence ops of nn.functional (issue 3); re-exported by functional.py."""

__all__: list[str] = []
