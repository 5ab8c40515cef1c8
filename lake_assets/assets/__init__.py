"""Asset groups, one per seed pipeline: hello, static table, ds/hr/min table, scraper."""
