"""One package per domain, each with its assets, the checks beside them, and a `defs` that
lake_assets/definitions.py merges: hello, seed (the static and ds/hr/min Spark tables), scraper (the
slot grain of the landings), history (their month grain) and maintenance (every table's, daily)."""
