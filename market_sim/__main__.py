"""`python -m market_sim`: the same as the `market-sim` command."""

from market_sim.cli import main

raise SystemExit(main())
