"""What the definitions read once at load: the settings and the partitions built from them.

Invalid settings stop the code location from loading with the message naming each variable.
"""

from __future__ import annotations

from lake.settings import load_settings
from lake_assets.partitions import slot_partitions

SETTINGS = load_settings()
SLOTS = slot_partitions(SETTINGS.partitions)
