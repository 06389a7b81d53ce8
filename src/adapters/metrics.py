"""This process's Prometheus metrics, and the adapters that feed them.

Each ``Registry`` (one per server process, shared by its threads) owns a
``Metrics`` with a collector registry of its own, so that several apps in
one process (the tests) never clash. Every instance exposes its own figures
at ``/metrics``: Prometheus scrapes each instance and sums them.

The domain knows nothing of Prometheus: downloads and upstream bytes are
seen through the ``UsageLog`` port (``MeteredUsageLog`` wraps the real one),
upstream transfers through a subclass of ``Transfers`` that counts its
starts, failures and stored files, and requests through a Pyramid tween
(``entrypoints.web.observe``).
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST as CONTENT_TYPE  # noqa: F401 - re-exported
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from domain.ports import ModelUsage, TransferEvents, UsageLog

# Seconds; downloads and uploads of large files take longer than any bucket,
# so the histogram measures the time to the response's first byte.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "modelhub_http_requests",
            "HTTP requests answered, by route name, method and status.",
            ("route", "method", "status"),
            registry=r,
        )
        self.latency = Histogram(
            "modelhub_http_request_duration_seconds",
            "Time until a response's headers (a streamed body not included), by route name.",
            ("route",),
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.bytes_served = Counter(
            "modelhub_download_bytes_served",
            "Bytes of model files sent to clients (downloads), counted when a response ends.",
            registry=r,
        )
        self.downloads = Counter(
            "modelhub_downloads",
            "Downloads that sent a file's last byte.",
            registry=r,
        )
        self.bytes_received = Counter(
            "modelhub_upload_bytes_received",
            "Bytes of model files uploaded: the bodies of uploads and upload parts answered 2xx.",
            registry=r,
        )
        self.downloads_in_progress = Gauge(
            "modelhub_downloads_in_progress",
            "Download responses being sent now.",
            registry=r,
        )
        self.transfers = Counter(
            "modelhub_upstream_transfers",
            "Upstream transfers run by this instance, by event: started, stored, failed.",
            ("event",),
            registry=r,
        )
        self.bytes_fetched = Counter(
            "modelhub_upstream_bytes_fetched",
            "Bytes received from upstream sources.",
            registry=r,
        )
        for event in ("started", "stored", "failed"):
            self.transfers.labels(event)

    def exposition(self) -> bytes:
        """The text format of every metric."""
        return generate_latest(self.registry)


class MeteredUsageLog(UsageLog):
    """``inner``, whose records are counted in ``metrics`` too."""

    def __init__(self, inner: UsageLog, metrics: Metrics) -> None:
        self.inner = inner
        self.metrics = metrics

    def served(self, pk: int, nbytes: int, download: bool) -> None:
        self.metrics.bytes_served.inc(max(0, nbytes))
        if download:
            self.metrics.downloads.inc()
        self.inner.served(pk, nbytes, download)

    def fetched(self, pk: int, nbytes: int) -> None:
        self.metrics.bytes_fetched.inc(max(0, nbytes))
        self.inner.fetched(pk, nbytes)

    def figures(self) -> list[ModelUsage]:
        return self.inner.figures()

    def figures_of(self, pk: int) -> ModelUsage:
        return self.inner.figures_of(pk)


class TransferMetrics(TransferEvents):
    """Counts the upstream transfers this process starts, stores and fails."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def started(self, pk: int) -> None:
        self.metrics.transfers.labels("started").inc()

    def stored(self, pk: int) -> None:
        self.metrics.transfers.labels("stored").inc()

    def failed(self, pk: int) -> None:
        self.metrics.transfers.labels("failed").inc()
