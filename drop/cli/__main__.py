"""`python -m drop.cli`: drop-ops without its console script (the worker `serve` starts)."""

from drop.cli import main

main()
