"""Misbehaviour on demand: Shopify's REST and GraphQL rate limits and switchable transport faults."""

from __future__ import annotations

import random
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any

BUCKET_SIZE = 40
LEAK_PER_SECOND = 2.0
THROTTLED = ("Exceeded 2 calls per second for api client. "
             "Reduce request rates to resume uninterrupted service.")


class LeakyBucket:
    """Shopify's REST limit: 40 requests fill the bucket, which leaks 2 per second.

    Args:
        enabled: when false every request is allowed and the reported level stays at 1.
        size: bucket capacity.
        leak: requests leaked per second.
    """

    def __init__(self, enabled: bool = True, size: int = BUCKET_SIZE, leak: float = LEAK_PER_SECOND) -> None:
        self.enabled = enabled
        self.size = size
        self.leak = leak
        self._level = 0.0
        self._at = time.monotonic()
        self._lock = threading.Lock()

    def take(self) -> tuple[bool, str]:
        """Count one request; return ``(allowed, X-Shopify-Shop-Api-Call-Limit value)``."""
        if not self.enabled:
            return True, f"1/{self.size}"
        with self._lock:
            now = time.monotonic()
            self._level = max(0.0, self._level - (now - self._at) * self.leak)
            self._at = now
            if self._level + 1 > self.size:
                return False, f"{self.size}/{self.size}"
            self._level += 1
            return True, f"{min(self.size, int(self._level + 0.999))}/{self.size}"

    def peek(self) -> str:
        """Return the call-limit header value without counting a request."""
        if not self.enabled:
            return f"1/{self.size}"
        with self._lock:
            level = max(0.0, self._level - (time.monotonic() - self._at) * self.leak)
            return f"{min(self.size, int(level + 0.999))}/{self.size}"

    def set_enabled(self, enabled: bool) -> None:
        """Switch limiting on or off; the bucket starts empty either way."""
        with self._lock:
            self.enabled = bool(enabled)
            self._level, self._at = 0.0, time.monotonic()


#: The GraphQL cost bucket of a standard plan: points it holds, points it regains a second.
COST_BUCKET = 2000.0
COST_RESTORE = 100.0


class CostBucket:
    """Shopify's GraphQL limit: a bucket of cost points, refilled at ``restore_rate`` points a second.

    A query takes its requested cost up front and gets back what it did not use; one asking
    more than the bucket holds is answered ``THROTTLED``. Off, every query passes and the
    bucket reads full. Time is the monotonic clock plus what :meth:`pass_time` added, so a
    test that records waits instead of sleeping can let the bucket refill; ``frozen`` stops
    the clock, so that only :meth:`pass_time` refills it (waits a test can predict exactly).

    Args:
        enabled: whether queries are throttled.
        maximum: points the bucket holds.
        restore_rate: points regained per second.
    """

    def __init__(self, enabled: bool = True, maximum: float = COST_BUCKET, restore_rate: float = COST_RESTORE) -> None:
        self.enabled = enabled
        self.maximum = maximum
        self.restore_rate = restore_rate
        #: HTTP status of a THROTTLED answer (Shopify's is 200; some clients report 429).
        self.throttle_status = 200
        self._skew = 0.0
        self._frozen_at: float | None = None  # the monotonic clock where it stopped, while frozen
        self._available = maximum
        self._at = self._now()
        self._lock = threading.Lock()

    def _now(self) -> float:
        return (time.monotonic() if self._frozen_at is None else self._frozen_at) + self._skew

    def _level(self) -> float:
        now = self._now()
        self._available = min(self.maximum, self._available + (now - self._at) * self.restore_rate)
        self._at = now
        return self._available

    def _status(self) -> dict[str, Any]:
        available = self._available if self.enabled else self.maximum
        return {"maximumAvailable": float(self.maximum), "currentlyAvailable": int(available),
                "restoreRate": float(self.restore_rate)}

    def take(self, cost: int) -> tuple[bool, dict[str, Any]]:
        """Charge a query's requested cost; return ``(allowed, throttleStatus)``."""
        with self._lock:
            if self.enabled:
                if self._level() < cost:
                    return False, self._status()
                self._available -= cost
            return True, self._status()

    def refund(self, points: int) -> dict[str, Any]:
        """Give back the points a query did not use; return the ``throttleStatus`` after it."""
        with self._lock:
            if self.enabled:
                self._available = min(self.maximum, self._level() + points)
            return self._status()

    def pass_time(self, seconds: float) -> None:
        """Let the bucket refill as if ``seconds`` more had passed."""
        if seconds < 0:
            raise ValueError(f"seconds must be >= 0, got {seconds}")
        with self._lock:
            self._level()
            self._skew += seconds
            self._level()

    def set(self, enabled: bool | None = None, maximum: float | None = None, restore_rate: float | None = None,
            available: float | None = None, throttle_status: int | None = None,
            frozen: bool | None = None) -> dict[str, Any]:
        """Change the named switches (the others stay) and return them; ``available`` empties the bucket to it.

        Raises:
            ValueError: a value of the wrong type or out of range.
        """
        if enabled is not None and not isinstance(enabled, bool):
            raise ValueError("enabled must be true or false")
        for name, value in (("maximum", maximum), ("restore_rate", restore_rate), ("available", available)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0):
                raise ValueError(f"{name} must be a number >= 0, got {value!r}")
        if throttle_status not in (None, 200, 429):
            raise ValueError(f"throttle_status must be 200 or 429, got {throttle_status!r}")
        if frozen is not None and not isinstance(frozen, bool):
            raise ValueError("frozen must be true or false")
        with self._lock:
            self._level()
            if frozen is not None and frozen != (self._frozen_at is not None):
                self._frozen_at = time.monotonic() if frozen else None
                self._skew = self._at - (self._frozen_at if frozen else time.monotonic())  # the clock goes on from here
            if enabled is not None:
                self.enabled = enabled
            if maximum is not None:
                self.maximum = float(maximum)
            if restore_rate is not None:
                self.restore_rate = float(restore_rate)
            if throttle_status is not None:
                self.throttle_status = throttle_status
            self._available = min(self.maximum, float(available) if available is not None else self._available)
        return self.snapshot()

    def set_enabled(self, enabled: bool) -> None:
        """Switch throttling on or off; the bucket starts full either way."""
        with self._lock:
            self.enabled = bool(enabled)
            self._available, self._at = self.maximum, self._now()

    def snapshot(self) -> dict[str, Any]:
        """Return the switches and the points available now."""
        with self._lock:
            self._level()
            return {"enabled": self.enabled, "maximum": self.maximum, "restore_rate": self.restore_rate,
                    "available": self._available, "throttle_status": self.throttle_status,
                    "frozen": self._frozen_at is not None}


@dataclass
class FaultConfig:
    """What goes wrong, and how often, for API requests (control and CDN paths are spared).

    Attributes:
        latency_ms: delay added before every API answer.
        error_rate: share (0..1) of API requests answered ``error_status``.
        error_status: the status of those answers (500, 502, 503...).
        storm_429: the next N API requests are answered 429 with ``Retry-After``.
        timeout_rate: share of API requests held ``timeout_s`` before being answered.
        timeout_s: how long a "timeout" holds the answer.
        truncate_rate: share of API requests whose body is cut short: the declared
            Content-Length exceeds the bytes sent, then the connection closes.
        seed: seed of the draws, so a fault sequence is reproducible.
    """

    latency_ms: float = 0.0
    error_rate: float = 0.0
    error_status: int = 500
    storm_429: int = 0
    timeout_rate: float = 0.0
    timeout_s: float = 5.0
    truncate_rate: float = 0.0
    seed: int = 0


class Faults:
    """Holds the fault switches and draws each API request's fate (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.config = FaultConfig()
        self._rng = random.Random(0)
        self.counts = {"error": 0, "timeout": 0, "truncate": 0, "storm_429": 0}

    def set(self, **kwargs: Any) -> dict[str, Any]:
        """Replace the switches (unnamed ones reset to their defaults) and return them.

        Raises:
            TypeError: an unknown switch name.
            ValueError: a value of the wrong type or out of range.
        """
        config = FaultConfig(**kwargs)
        for name in ("error_rate", "timeout_rate", "truncate_rate"):
            value = float(getattr(config, name))
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {value}")
            setattr(config, name, value)
        config.latency_ms, config.timeout_s = float(config.latency_ms), float(config.timeout_s)
        config.error_status, config.storm_429, config.seed = (
            int(config.error_status), int(config.storm_429), int(config.seed))
        if not 400 <= config.error_status <= 599 or config.storm_429 < 0 or config.latency_ms < 0:
            raise ValueError("error_status must be 4xx/5xx; storm_429 and latency_ms must be >= 0")
        with self._lock:
            self.config = config
            self._rng = random.Random(config.seed)
        return asdict(config)

    def clear(self) -> None:
        """Switch every fault off."""
        self.set()

    def active(self) -> bool:
        """Return whether any switch is on (lets the hot path skip the draw)."""
        c = self.config
        return bool(c.latency_ms or c.error_rate or c.storm_429 or c.timeout_rate or c.truncate_rate)

    def draw(self) -> str | None:
        """Return this request's fault: ``timeout``, ``error``, ``truncate`` or ``None``."""
        with self._lock:
            c = self.config
            rates = (("timeout", c.timeout_rate), ("error", c.error_rate), ("truncate", c.truncate_rate))
            if not any(rate for _, rate in rates):
                return None
            r, edge = self._rng.random(), 0.0
            for name, rate in rates:
                edge += rate
                if r < edge:
                    self.counts[name] += 1
                    return name
            return None

    def take_storm(self) -> bool:
        """Return whether this request falls in a pending 429 storm (and consume one)."""
        with self._lock:
            if self.config.storm_429 <= 0:
                return False
            self.config.storm_429 -= 1
            self.counts["storm_429"] += 1
            return True

    def snapshot(self) -> dict[str, Any]:
        """Return the current switches and how many faults were served."""
        with self._lock:
            return {**asdict(self.config), "served": dict(self.counts)}
