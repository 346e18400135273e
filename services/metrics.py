"""Process metrics in the Prometheus text format, kept in memory (each process is scraped).

No series may depend on whether an email has an account: anyone can send signIn or
requestPasswordReset with any email, and a counter that moves for known emails only tells
them which exist. So sign-in failures are counted where both kinds fail alike
(services.password_sign_in.sign_in), not from the SIGN_IN_FAILED event an existing account alone
records, and only security events that need a session or a second-step challenge (hence
the password) are shown. tests/test_metrics_access.py compares /metrics after the same
requests with a known and an unknown email.
"""

from __future__ import annotations

import bisect
from collections import Counter
from dataclasses import dataclass, field

# Seconds: the spread of a GraphQL request, from a cached status read to an argon2 sign-in.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


@dataclass
class _Histogram:
    counts: list[int] = field(default_factory=lambda: [0] * len(LATENCY_BUCKETS))
    total: int = 0
    sum: float = 0.0

    def observe(self, seconds: float) -> None:
        index = bisect.bisect_left(LATENCY_BUCKETS, seconds)
        if index < len(self.counts):
            self.counts[index] += 1
        self.total += 1
        self.sum += seconds


@dataclass
class Metrics:
    requests: Counter[tuple[str, str]] = field(default_factory=Counter)
    latency: dict[str, _Histogram] = field(default_factory=dict)
    security_events: Counter[str] = field(default_factory=Counter)
    rate_limited: int = 0
    sign_in_failures: int = 0
    emails_dropped: Counter[str] = field(default_factory=Counter)

    def observe_request(self, operation: str, outcome: str, seconds: float) -> None:
        self.requests[(operation, outcome)] += 1
        self.latency.setdefault(operation, _Histogram()).observe(seconds)

    def count_security_event(self, kind: str) -> None:
        self.security_events[kind] += 1

    def count_rate_limited(self) -> None:
        self.rate_limited += 1

    def count_sign_in_failure(self) -> None:
        """A wrong password or an unknown email: the same failure to whoever sent it."""
        self.sign_in_failures += 1

    def count_email_dropped(self, kind: str) -> None:
        self.emails_dropped[kind] += 1

    def render(self, gauges: dict[str, tuple[str, float]]) -> str:
        """The exposition text; `gauges` are read at scrape time: name -> (help, value)."""
        lines = [
            "# HELP verrou_requests_total HTTP requests by GraphQL operation and outcome.",
            "# TYPE verrou_requests_total counter",
        ]
        for (operation, outcome), count in sorted(self.requests.items()):
            lines.append(
                f'verrou_requests_total{{operation="{_label(operation)}",'
                f'outcome="{_label(outcome)}"}} {count}'
            )
        lines += [
            "# HELP verrou_request_duration_seconds HTTP request latency by GraphQL operation.",
            "# TYPE verrou_request_duration_seconds histogram",
        ]
        for operation, histogram in sorted(self.latency.items()):
            name = _label(operation)
            cumulative = 0
            for bound, count in zip(LATENCY_BUCKETS, histogram.counts, strict=True):
                cumulative += count
                lines.append(
                    f'verrou_request_duration_seconds_bucket{{operation="{name}",le="{bound}"}} '
                    f"{cumulative}"
                )
            lines += [
                f'verrou_request_duration_seconds_bucket{{operation="{name}",le="+Inf"}} '
                f"{histogram.total}",
                f'verrou_request_duration_seconds_sum{{operation="{name}"}} {histogram.sum:.6f}',
                f'verrou_request_duration_seconds_count{{operation="{name}"}} {histogram.total}',
            ]
        # Events of signed-in accounts (or of a challenge, opened by the right password)
        # only: never one an email alone can cause (see the module's docstring).
        counters = {
            "verrou_two_factor_enabled_total": (
                "2FA turned on.",
                self.security_events["TWO_FACTOR_ENABLED"],
            ),
            "verrou_two_factor_disabled_total": (
                "2FA turned off.",
                self.security_events["TWO_FACTOR_DISABLED"],
            ),
            "verrou_second_factor_failures_total": (
                "Wrong, replayed or expired second factors.",
                self.security_events["SECOND_FACTOR_FAILED"],
            ),
            "verrou_sign_in_failures_total": (
                "Failed sign-ins: wrong passwords and unknown emails alike.",
                self.sign_in_failures,
            ),
            "verrou_rate_limited_total": (
                "Attempts refused with RATE_LIMITED.",
                self.rate_limited,
            ),
        }
        for name, (help_text, count) in counters.items():
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} counter", f"{name} {count}"]
        lines += [
            "# HELP verrou_emails_dropped_total Emails not sent: over MAIL_LIMIT_PER_KIND or "
            "MAIL_LIMIT_PER_ACCOUNT.",
            "# TYPE verrou_emails_dropped_total counter",
        ]
        lines += [
            f'verrou_emails_dropped_total{{kind="{_label(kind)}"}} {count}'
            for kind, count in sorted(self.emails_dropped.items())
        ]
        for name, (help_text, value) in sorted(gauges.items()):
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge", f"{name} {value:g}"]
        return "\n".join(lines) + "\n"


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
