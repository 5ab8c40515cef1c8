"""Redis's clock inside a Lua script: the one time every worker host agrees on.

Prefix a script with NOW_MS and it has `now_ms`, Redis's TIME in milliseconds. Leases, heartbeats and the
rate-limit bucket all use it, so hosts whose own clocks disagree still agree on deadlines and budgets.
"""

NOW_MS = "local _t = redis.call('TIME'); local now_ms = tonumber(_t[1]) * 1000 + math.floor(tonumber(_t[2]) / 1000)\n"
