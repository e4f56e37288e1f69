"""`python -m runner ...`"""

from runner.cli import entry_point

entry_point()
