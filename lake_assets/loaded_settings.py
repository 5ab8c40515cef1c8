"""What the definitions read once at load: the settings and the partitions built from them.

The settings are the resources' own (`resources.settings_from`, one cached load per env file), so the
partitions and every resource of a run read the same values. Invalid settings stop the code location from
loading with the message naming each variable.
"""

from __future__ import annotations

from lake_assets.partitions import slot_partitions
from lake_assets.resources import settings_from
from scrapworker.landings import landings_for

SETTINGS = settings_from("")
SLOTS = slot_partitions(SETTINGS.partitions)
# The landings file, checked against the endpoint file: a broken one stops the code location from
# loading with each error's path and line.
LANDINGS = landings_for(SETTINGS.crawler)
