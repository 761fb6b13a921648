"""Helpers shared by lvseg's tests: run the tools as a user would, tiny runs to kill, checkpoints to refuse."""
