"""`python -m outreach.cli`: the same command line as the `outreach` console script."""

from outreach.cli import main

main()
