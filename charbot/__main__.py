"""`python -m charbot` runs the same command line as the `charbot` script."""

from charbot.cli import main

raise SystemExit(main())
