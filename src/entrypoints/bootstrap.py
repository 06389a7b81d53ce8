"""The composition root: the one place that builds adapters and services.

The web app and every batch script build a ``Registry`` from settings, so a
script runs exactly the rules the API runs. Tests pass their own adapters.
Nothing here connects at import time.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import transaction
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from adapters.filesystem import DirectorySink, FileBlobStore, ProxyBodyDirectory
from adapters.health import HealthCheck
from adapters.http_fetch import HttpFetcher
from adapters.metrics import MeteredUsageLog, Metrics, TransferMetrics
from adapters.passwords import Argon2PasswordHasher
from adapters.queued_usage import QueuedUsageLog
from adapters.source_server import HttpSourceServer
from adapters.sqlalchemy.attempts import SqlAttemptLog
from adapters.sqlalchemy.migrate import current_revision, head_revision, upgrade
from adapters.sqlalchemy.orm import start_mappers
from adapters.sqlalchemy.session import (
    PoolSize,
    make_engine,
    make_read_session_factory,
    make_session_factory,
    tm_session,
)
from adapters.sqlalchemy.uow import SqlUnitOfWork
from adapters.sqlalchemy.usage import SqlUsageLog
from adapters.tokens import JwtTokenSigner
from domain.clock import Clock, SystemClock
from domain.filters import Exact, FilterSpec
from domain.ports import (
    AttemptLog,
    BlobStore,
    Fetcher,
    FileSink,
    PasswordHasher,
    ProxyBodyFolder,
    SourceServer,
    TokenSigner,
    UnitOfWork,
    UsageLog,
)
from domain.services.auth import Auth, LoginThrottle
from domain.services.domains import Domains
from domain.services.frameworks import Frameworks
from domain.services.licences import Licences
from domain.services.maintenance import Maintenance
from domain.services.migration import Migration
from domain.services.mirror import Mirror
from domain.services.pretrained_models import PretrainedModels
from domain.services.seed import seed
from domain.services.stats import Stats
from domain.services.uploads import Uploads
from domain.services.upstream import Transfers
from domain.services.users import Users
from entrypoints.settings import Settings


@dataclass
class Services:
    """Every service, bound to one unit of work."""

    uow: UnitOfWork
    models: PretrainedModels
    frameworks: Frameworks
    domains: Domains
    licences: Licences
    users: Users
    auth: Auth
    mirror: Mirror
    maintenance: Maintenance
    migration: Migration
    stats: Stats
    uploads: Uploads


class Registry:
    """Long-lived adapters built once per process from the settings."""

    def __init__(
        self,
        settings: Settings,
        *,
        engine: Engine | None = None,
        store: BlobStore | None = None,
        hasher: PasswordHasher | None = None,
        signer: TokenSigner | None = None,
        clock: Clock | None = None,
        fetcher: Fetcher | None = None,
        usage: UsageLog | None = None,
    ) -> None:
        start_mappers()
        self.settings = settings
        self.engine = engine or make_engine(
            settings.database_url,
            PoolSize(settings.db_pool_size, timeout=settings.db_pool_timeout),
        )
        self.session_factory: sessionmaker[Session] = make_session_factory(self.engine)
        self.read_session_factory = make_read_session_factory(self.engine)
        self.store = store or _blob_store(settings)
        # Where nginx writes upload bodies, for ``modelhub gc`` to tidy.
        self.proxy_bodies: ProxyBodyFolder | None = (
            ProxyBodyDirectory(settings.proxy_body_dir) if settings.proxy_body_dir else None
        )
        self.hasher = hasher or Argon2PasswordHasher()
        self.signer = signer or JwtTokenSigner(settings.jwt_key)
        self.clock = clock or SystemClock()
        self.fetcher = fetcher or HttpFetcher(settings.fetch_timeout, settings.fetch_retries)
        # Shared by every request of this process, unlike the services.
        # Downloads are counted in the background (see ``QueuedUsageLog``).
        self.usage = usage or QueuedUsageLog(SqlUsageLog(self.engine))
        # In the database, so that every instance on it counts the same failures.
        self.login_attempts: AttemptLog = SqlAttemptLog(self.engine, settings.login_failure_window)
        self.login_throttle = LoginThrottle(
            settings.login_failures_per_username,
            settings.login_failures_per_address,
            settings.login_failure_window,
        )
        self.health = HealthCheck(self.engine, self.store)
        # This process's figures for /metrics, fed through the usage log.
        self.metrics = Metrics()
        self.metered_usage = MeteredUsageLog(self.usage, self.metrics)
        self.transfers = Transfers(
            self.work,
            self.store,
            self.fetcher,
            self.clock,
            settings.max_file_size,
            settings.fetch_lease,
            self.metered_usage,
            TransferMetrics(self.metrics),
        )

    def services(self, uow: UnitOfWork) -> Services:
        s = self.settings
        models = self.models(uow)
        frameworks = Frameworks(uow)
        return Services(
            uow=uow,
            models=models,
            frameworks=frameworks,
            domains=Domains(uow),
            licences=Licences(uow),
            users=Users(uow, self.hasher, self.clock),
            auth=Auth(
                uow,
                self.hasher,
                self.signer,
                self.clock,
                s.access_lifetime,
                s.refresh_lifetime,
                self.login_attempts,
                self.login_throttle,
            ),
            mirror=Mirror(uow, models, frameworks, self.store, self.fetcher),
            maintenance=Maintenance(
                uow, self.store, self.clock, models, self.proxy_bodies, s.proxy_body_max_age
            ),
            migration=Migration(uow, models, frameworks, Licences(uow), self.store),
            stats=Stats(uow, self.metered_usage),
            uploads=Uploads(uow, self.store, self.clock, self.work, self.models, s.upload_lifetime),
        )

    def models(self, uow: UnitOfWork) -> PretrainedModels:
        """The model service on ``uow``."""
        s = self.settings
        return PretrainedModels(uow, self.store, self.clock, s.max_file_size, self.transfers)

    def unit_of_work(
        self, transaction_manager: transaction.TransactionManager, *, read_only: bool = False
    ) -> SqlUnitOfWork:
        """A unit of work on a new session joined to ``transaction_manager``;
        ``read_only``, on a session that reads outside any transaction and
        refuses to write."""
        if read_only:
            return SqlUnitOfWork(self.read_session_factory(), transaction_manager)
        session = tm_session(self.session_factory, transaction_manager)
        return SqlUnitOfWork(session, transaction_manager)

    @contextmanager
    def transaction(self) -> Iterator[Services]:
        """Services in one transaction for a batch script: committed when the
        block ends, aborted if it raises."""
        with self.work() as uow:
            yield self.services(uow)

    @contextmanager
    def work(self) -> Iterator[SqlUnitOfWork]:
        """A unit of work in a transaction of its own: committed when the
        block ends, aborted if it raises."""
        manager = transaction.TransactionManager(explicit=True)
        session = None
        try:
            with manager:
                uow = self.unit_of_work(manager)
                session = uow.session
                yield uow
        finally:
            if session is not None:
                session.close()

    def initialise_database(self) -> int:
        """Create or upgrade the schema, then add missing seed rows."""
        upgrade(self.engine)
        with self.transaction() as services:
            return seed(services.uow)

    def schema_is_current(self) -> bool:
        """Whether the database exists at the newest schema revision."""
        return current_revision(self.engine) == head_revision()

    def file_sink(self, folder: str) -> FileSink:
        """Where ``export --files`` writes the model files."""
        return DirectorySink(folder)

    def source_server(self, url: str, username: str, password: str) -> SourceServer:
        """The running UFDL (or modelhub) server at ``url`` that ``modelhub
        migrate`` copies from, logged in; files come with this registry's
        fetch timeout and retries."""
        s = self.settings
        fetcher = HttpFetcher(s.fetch_timeout, s.fetch_retries)
        return HttpSourceServer(url, username, password, fetcher)

    def has_admin(self) -> bool:
        """Whether an active admin account exists yet."""
        admins = FilterSpec((Exact("is_staff", True), Exact("is_active", True)))
        with self.transaction() as services:
            return bool(services.uow.users.list(admins))

    def dispose(self) -> None:
        self.health.close()
        self.transfers.close()
        if isinstance(self.usage, QueuedUsageLog):
            self.usage.close()  # records still queued are written first
        self.engine.dispose()


def _blob_store(settings: Settings) -> BlobStore:
    """The store ``modelhub.blob_store`` names: a folder, or an S3 bucket."""
    if settings.blob_store != "s3":
        return FileBlobStore(settings.blob_root)
    from adapters.s3 import S3BlobStore, make_client

    client = make_client(settings.s3_endpoint, settings.s3_region, settings.db_pool_size + 8)
    staging = settings.s3_staging_dir or settings.blob_root / "staging"
    return S3BlobStore(client, settings.s3_bucket, staging, settings.s3_prefix)
