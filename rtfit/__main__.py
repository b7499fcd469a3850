"""`python -m rtfit` runs the same CLI as the `rtfit` console script."""

from rtfit.cli import main

main()
