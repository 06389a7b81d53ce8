"""Who runs a model's upstream transfer: the decision taken under its row lock."""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain.errors import Gone, NotFound, SourceTimeout, SourceUnavailable
from domain.model import BlobRef, DataDomain, Framework, Licence, PretrainedModel
from domain.services.upstream import LEASE, RETRY_AFTER, claim_transfer
from tests.unit.conftest import FakeClock


def remote(**fields: object) -> PretrainedModel:
    model = PretrainedModel(
        "m",
        Framework("f", "1"),
        DataDomain("ic", "Image Classification"),
        Licence("MIT"),
        url="https://example.org/m",
        description="",
        source="https://upstream.example/m.bin",
    )
    for name, value in fields.items():
        setattr(model, name, value)
    return model


def decide(model: PretrainedModel | None, clock: FakeClock, retry: bool = False):
    return claim_transfer(model, clock, LEASE, retry)


def test_the_first_download_claims_the_transfer(clock: FakeClock) -> None:
    model = remote()
    owner, new = decide(model, clock)
    assert new and owner == model.fetch_owner and len(owner) == 32
    assert (model.fetch_heartbeat, model.data_state) == (clock.now(), "fetching")


def test_a_live_claim_is_joined_and_a_dead_one_taken_over(clock: FakeClock) -> None:
    model = remote()
    owner, _ = decide(model, clock)
    clock.advance(LEASE)
    assert decide(model, clock) == (owner, False)
    clock.advance(seconds=1)
    taken, new = decide(model, clock)
    assert new and taken != owner and model.fetch_owner == taken


def test_nothing_to_claim(clock: FakeClock) -> None:
    assert decide(remote(data_sha256="a" * 64, data_size=1), clock) == (None, False)
    with pytest.raises(NotFound):
        decide(None, clock)
    with pytest.raises(NotFound, match="no file"):
        decide(remote(source=None), clock)
    with pytest.raises(Gone):
        decide(remote(deletion_time=clock.now()), clock)


@pytest.mark.parametrize(
    ("kind", "error"), [("error", SourceUnavailable), ("timeout", SourceTimeout)]
)
def test_a_recent_failure_is_answered_again_then_retried(
    clock: FakeClock, kind: str, error: type
) -> None:
    model = remote(fetch_error="HTTP 500", fetch_error_kind=kind, fetch_failed_at=clock.now())
    with pytest.raises(error, match="HTTP 500") as raised:
        decide(model, clock)
    assert type(raised.value) is error
    clock.advance(RETRY_AFTER + timedelta(seconds=1))
    assert decide(model, clock)[1] and model.fetch_error is None


def test_a_pin_mismatch_holds_until_an_admin_retries(clock: FakeClock) -> None:
    model = remote(
        fetch_error="not the pinned", fetch_error_kind="mismatch", fetch_failed_at=clock.now()
    )
    clock.advance(days=1)
    with pytest.raises(SourceUnavailable):
        decide(model, clock)
    owner, new = decide(model, clock, retry=True)
    assert new and model.fetch_error is None and model.fetch_owner == owner


def test_a_stored_file_clears_nothing_it_does_not_need(clock: FakeClock) -> None:
    model = remote()
    model.attach(BlobRef("b" * 64, 3), clock.now())
    assert decide(model, clock) == (None, False) and model.fetch_owner is None
