"""What Binance's documentation and live API fix: headers, limits, the legal ranges quoted in -1100 messages and
the -1003 texts of 429 and 418 answers."""

from __future__ import annotations

import re

USED_WEIGHT_HEADERS = ("X-MBX-USED-WEIGHT-1M", "X-MBX-USED-WEIGHT")  # Binance sends both, with the same value
JSON_CONTENT_TYPE = "application/json;charset=UTF-8"
# rest-api.md: "To receive the information in microseconds, please add the header X-MBX-TIME-UNIT:MICROSECOND or
# X-MBX-TIME-UNIT:microsecond" (CHANGELOG.md, 2024-12-17: MILLISECOND and millisecond are the default's names).
TIME_UNIT_HEADER = "X-MBX-TIME-UNIT"
MICROSECOND_UNITS = frozenset({"MICROSECOND", "microsecond"})
TIME_UNITS = MICROSECOND_UNITS | {"MILLISECOND", "millisecond"}
DEFAULT_LIMIT = 500
MAX_LIMIT = 1000
INT64_MAX = 2**63 - 1


# Binance's own regular expressions, quoted back in -1100 messages.
INT_LEGAL_RANGE = "^[0-9]{1,20}$"
SYMBOL_LEGAL_RANGE = "^[A-Z0-9-_.]{1,20}$"
SYMBOLS_LEGAL_RANGE = '^\\[("[A-Z0-9-_.]{1,20}"(,"[A-Z0-9-_.]{1,20}"){0,}){0,1}\\]$'
INT_SHAPE = re.compile(r"[0-9]{1,20}")
SYMBOL_SHAPE = re.compile(r"[A-Z0-9_.\-]{1,20}")
SYMBOLS_SHAPE = re.compile(SYMBOLS_LEGAL_RANGE)
TIME_ZONE_SHAPE = re.compile(r"([+-]?)([0-9]{1,2})(?::([0-9]{2}))?")


# errors.md's -1003 texts (as CHANGELOG.md's 2022-12-13 entry set them).
WINDOW_BUDGET_MESSAGE = (
    "Too much request weight used; current limit is {limit} request weight per {window}. "
    "Please use WebSocket Streams for live updates to avoid polling the API."
)
BAN_MESSAGE = (
    "Way too much request weight used; IP banned until {until_ms}. "
    "Please use WebSocket Streams for live updates to avoid bans."
)
