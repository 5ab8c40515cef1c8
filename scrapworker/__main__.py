import sys

from scrapworker.cli import main

sys.exit(main())
