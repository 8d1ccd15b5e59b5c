"""Primitive differentiable ops, one ``Function`` subclass each (forward and backward together)."""
