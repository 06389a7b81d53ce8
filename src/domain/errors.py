"""Domain errors: every failure a service can report, independent of HTTP."""

from __future__ import annotations

from collections.abc import Mapping, Sequence


class DomainError(Exception):
    """Base of every error a service raises on purpose."""

    default_detail = "The request could not be completed."
    # Seconds after which the same request may succeed, when that is known.
    retry_after: int | None = None

    def __init__(self, detail: str | None = None, *, retry_after: int | None = None) -> None:
        self.detail = detail or self.default_detail
        if retry_after is not None:
            self.retry_after = retry_after
        super().__init__(self.detail)


class NotAuthenticated(DomainError):
    default_detail = "Authentication credentials were not provided."

    @classmethod
    def bad_token(cls) -> NotAuthenticated:
        """The answer to text that is no token of ours (the UFDL's words)."""
        return cls("Given token not valid for any token type")


class PermissionDenied(DomainError):
    default_detail = "You do not have permission to perform this action."


class NotFound(DomainError):
    default_detail = "Not found."


class Invalid(DomainError):
    """Bad input: either per-field messages or one non-field detail."""

    default_detail = "Invalid input."

    def __init__(
        self,
        detail: str | None = None,
        *,
        fields: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        self.fields = {name: list(msgs) for name, msgs in (fields or {}).items()}
        super().__init__(detail)

    @classmethod
    def field(cls, name: str, message: str) -> Invalid:
        return cls(fields={name: [message]})


class Conflict(DomainError):
    default_detail = "The action conflicts with the current state of the resource."


class Busy(Conflict):
    """Another request is writing the same thing right now."""

    default_detail = "Another request is writing this upload; ask for its offset and try again."


class ChecksumMismatch(DomainError):
    """Received bytes do not hash to the digest their sender declared."""

    default_detail = "The body does not match its checksum; nothing was stored."


class Gone(DomainError):
    default_detail = "The resource has been deleted."


class UnsupportedFileType(DomainError):
    default_detail = "Unsupported file type."


class TooLarge(DomainError):
    default_detail = "The uploaded file is larger than the configured limit."

    @classmethod
    def over_limit(cls, limit: int) -> TooLarge:
        """A file found larger than ``limit`` bytes."""
        return cls(f"The file is larger than the limit of {limit} bytes.")


class SourceUnavailable(DomainError):
    """A file could not be read from its source (an import's, or a model's
    upstream ``source``): it answered an error, was unreachable, or sent
    other bytes than pinned."""

    default_detail = "The file could not be fetched."


class SourceTimeout(SourceUnavailable):
    """The source did not answer in time."""

    default_detail = "The source of the file did not answer in time."


class TooManyRequests(DomainError):
    default_detail = "Too many requests."
    retry_after = 60


class Unavailable(DomainError):
    """The database cannot be reached or is too busy just now; nothing changed."""

    default_detail = "The service is temporarily unavailable; try again shortly."
    retry_after = 5


class StorageFull(DomainError):
    default_detail = "The file store is full; nothing was stored."
