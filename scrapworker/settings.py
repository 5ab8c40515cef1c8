"""Scrapy settings for the job crawls: Scrapy's settings module, upper-case names at module level.

The worker loads it with `Settings.setmodule` and adds what each deployment sets in LakeSettings
(DOWNLOAD_TIMEOUT, RETRY_TIMES) on top; nothing else tunes a crawl.
"""

ROBOTSTXT_OBEY = False  # an API, not a site
COOKIES_ENABLED = False
TELNETCONSOLE_ENABLED = False
LOGSTATS_INTERVAL = 0
STATS_DUMP = False
LOG_LEVEL = "WARNING"
USER_AGENT = "scrapworker (lake-ingest)"

# 429 is the rate limiter's, not the retry middleware's.
RETRY_HTTP_CODES = [500, 502, 503, 504, 522, 524, 408]
DOWNLOAD_MAXSIZE = 256 * 1024 * 1024
DOWNLOAD_WARNSIZE = 0

# Scrapy's retry gives way to ours (with backoff); the budget sits next to the downloader (middlewares.py).
DOWNLOADER_MIDDLEWARES = {
    "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
    "scrapworker.middlewares.BackoffRetryMiddleware": 550,
    "scrapworker.middlewares.BudgetMiddleware": 950,
}

# Pages land on S3 as they come; the manifest is written when the spider closes (pipelines.py).
ITEM_PIPELINES = {"scrapworker.pipelines.LandingPipeline": 300}
