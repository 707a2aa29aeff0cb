"""Limits per user and per client address over a rolling window: one mechanism for uploads, chat messages and
sign-ups, held in the database (classifier.models.RateLimit) so that it holds across app servers.

`rate_limit_take` counts a use and refuses one beyond the limit, saying when one will be free. It locks the row
of that user or address until the caller's transaction ends, so a caller can count a use and save what it pays
for in one transaction: parallel requests then queue instead of all passing the same last free place.
"""

import logging
import math
import time
from datetime import timedelta

from django.db import transaction

from classifier.models import RateLimit

logger = logging.getLogger(__name__)


class RateLimited(Exception):
    """A use beyond a limit; `retry_after` is the number of seconds until the next one is allowed."""

    def __init__(self, scope: str, retry_after: int):
        super().__init__(f"{scope}: over the limit; retry after {retry_after} s")
        self.scope = scope
        self.retry_after = retry_after


def rate_limit_take(*, scope: str, key: str, limit: int, window: timedelta, count: int = 1) -> None:
    """Count `count` uses of `scope` by `key`, or raise RateLimited when that would make more than `limit` in the
    last `window`. A limit of 0 or less is no limit."""
    if limit <= 0:
        return
    seconds = window.total_seconds()
    with transaction.atomic():
        row, _ = RateLimit.objects.select_for_update().get_or_create(scope=scope, key=key)
        now = time.time()
        recent = sorted(moment for moment in row.uses if moment > now - seconds)
        if len(recent) + count > limit:
            retry_after = _seconds_until_free(recent, limit, count, seconds, now)
            logger.warning("Rate limit %s reached by %s: retry after %d s", scope, key, retry_after)
            raise RateLimited(scope, retry_after)
        row.uses = [*recent, *[now] * count]
        row.save(update_fields=["uses"])


def rate_limit_uses(*, scope: str, key: str, window: timedelta) -> int:
    """How many uses of `scope` by `key` count in the window now (for the admin)."""
    uses = RateLimit.objects.filter(scope=scope, key=key).values_list("uses", flat=True).first() or []
    return sum(moment > time.time() - window.total_seconds() for moment in uses)


def _seconds_until_free(recent: list, limit: int, count: int, window: float, now: float) -> int:
    """When enough of the uses in the window have aged out of it for `count` more (the whole window when `count`
    alone is over the limit)."""
    if count > limit:
        return math.ceil(window)
    must_expire = recent[len(recent) + count - limit - 1]
    return max(1, math.ceil(must_expire + window - now))
