"""What the definitions read once at load: the settings and the partitions built from them.

Invalid settings stop the code location from loading with the message naming each variable.
"""

from __future__ import annotations

from lake.settings import load_settings
from lake_assets.partitions import slot_partitions
from scrapworker.landings import landings_for

SETTINGS = load_settings()
SLOTS = slot_partitions(SETTINGS.partitions)
# The landings file, checked against the endpoint file: a broken one stops the code location from
# loading with each error's path and line.
LANDINGS = landings_for(SETTINGS.crawler)
