"""Sign-up rules on real SQLite and CSV files: tokens, the form, the limits, confirmation."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import Project, lock_held

from newsletter.daemon.clientip import forwarded_client
from newsletter.models import SubscriberStatus
from newsletter.store.consents import Consents
from newsletter.store.database import Store
from newsletter.store.suppressions import COMPLAINT, Suppressions
from newsletter.subscribers.changes import ListFiles, apply_if_free
from newsletter.subscribers.signup import (
    Confirmation,
    ConfirmationCodec,
    FormProblem,
    Limits,
    SignupRequest,
    admit,
    confirm,
    read_form,
)
from newsletter.subscribers.tokens import TokenCodec

SECRET = b"k" * 32
LIST = "daily.example.com"
NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
BOB = SignupRequest("bob@example.org", "Bob", ("World",))


@pytest.fixture
def files(project: Project) -> ListFiles:
    return ListFiles(project.path / "subscribers" / "subscribers.csv", project.path / "t.db")


def rows(files: ListFiles) -> dict[str, dict[str, str]]:
    with files.subscribers.open(encoding="utf-8-sig", newline="") as handle:
        return {r["email"]: r for r in csv.DictReader(handle)}


# --- tokens ---------------------------------------------------------------------------


def test_a_token_carries_the_request_and_its_issue_time() -> None:
    codec = ConfirmationCodec(SECRET, LIST)
    token = codec.make(BOB, NOW)
    assert token.startswith("c1") and "bob" not in token.lower()
    assert codec.read(token) == Confirmation(BOB, NOW)


@pytest.mark.parametrize(
    ("age", "expired"),
    [(timedelta(hours=47, minutes=59), False), (timedelta(hours=48, seconds=1), True),
     (timedelta(minutes=-4), False), (timedelta(minutes=-6), True)],
)  # fmt: skip
def test_a_link_expires_after_confirm_hours_counted_from_its_issue(
    age: timedelta, expired: bool
) -> None:
    found = ConfirmationCodec(SECRET, LIST).read(ConfirmationCodec(SECRET, LIST).make(BOB, NOW))
    assert found is not None
    assert found.expired(NOW + age, 48) is expired


def test_tampered_forged_and_foreign_tokens_are_not_read() -> None:
    codec = ConfirmationCodec(SECRET, LIST)
    token = codec.make(BOB, NOW)
    flipped = token[:10] + ("A" if token[10] != "A" else "B") + token[11:]
    assert codec.read(flipped) is None
    assert codec.read("c1" + "A" * 80) is None and codec.read("garbage") is None
    assert ConfirmationCodec(b"x" * 32, LIST).read(token) is None  # another key
    assert ConfirmationCodec(SECRET, "weekly.example.com").read(token) is None  # another list
    # one purpose is never valid as the other, even under the same key
    unsubscribe = TokenCodec(SECRET, LIST)
    assert codec.read("c1" + unsubscribe.make("bob@example.org")[2:]) is None
    assert unsubscribe.read("u1" + token[2:]) is None


def test_a_previous_key_still_reads_its_links() -> None:
    token = ConfirmationCodec(b"o" * 32, LIST).make(BOB, NOW)
    assert ConfirmationCodec(SECRET, LIST, [b"o" * 32]).read(token) == Confirmation(BOB, NOW)


# --- the form -------------------------------------------------------------------------


def test_the_form_gives_a_normalised_request_with_offered_sections_only() -> None:
    form = {"email": [" Bob@Example.ORG "], "name": ["Bob\x07 B"], "sections": ["world", "Nope"]}
    assert read_form(form, ["World", "Sport"]) == SignupRequest(
        "Bob@example.org", "Bob  B", ("World",)
    )


def test_a_filled_honeypot_is_a_bot() -> None:
    assert read_form({"email": ["bob@example.org"], "website": ["http://spam"]}, []) is None


@pytest.mark.parametrize(
    "form",
    [{}, {"email": ["not-an-address"]}, {"email": ["bob@example"]},
     {"email": ["a" * 250 + "@example.org"]}, {"email": ["bob@example.org"], "name": ["n" * 101]},
     {"email": ["bob@example.org", "eve@example.org"]},
     {"email": ["bob@example.org"], "sections": ["s"] * 31}],
)  # fmt: skip
def test_an_unusable_form_is_refused_saying_why(form: dict[str, list[str]]) -> None:
    with pytest.raises(FormProblem):
        read_form(form, [])


# --- the limits ------------------------------------------------------------------------


def test_three_confirmations_per_address_a_day_then_the_time_to_come_back(tmp_path: Path) -> None:
    with Store(tmp_path / "t.db") as store:
        times = [NOW + timedelta(hours=h) for h in (0, 1, 2)]
        assert [admit(store, "bob@example.org", f"10.0.0.{i}", t, Limits()) for i, t in
                enumerate(times)] == [None, None, None]  # fmt: skip
        later = NOW + timedelta(hours=5)
        assert admit(store, "BOB@example.org", "10.0.0.9", later, Limits()) == NOW + timedelta(
            days=1
        )
        assert (
            admit(store, "bob@example.org", "10.0.0.9", NOW + timedelta(days=1), Limits()) is None
        )


def test_one_ip_address_gets_its_hourly_limit_whatever_the_addresses(tmp_path: Path) -> None:
    limits = Limits(per_ip_hour=2)
    with Store(tmp_path / "t.db") as store:
        assert admit(store, "a@example.org", "10.0.0.1", NOW, limits) is None
        assert admit(store, "b@example.org", "10.0.0.1", NOW + timedelta(minutes=1), limits) is None
        retry = admit(store, "c@example.org", "10.0.0.1", NOW + timedelta(minutes=2), limits)
        assert retry == NOW + timedelta(hours=1)
        assert admit(store, "c@example.org", "10.0.0.2", NOW + timedelta(minutes=2), limits) is None


@pytest.mark.parametrize(
    ("peer", "header", "trusted", "client"),
    [("203.0.113.9", "198.51.100.1", [], "203.0.113.9"),  # nobody trusted: the header is ignored
     ("203.0.113.9", "198.51.100.1", ["127.0.0.1/32"], "203.0.113.9"),  # not from the proxy
     ("127.0.0.1", "198.51.100.1", ["127.0.0.1/32"], "198.51.100.1"),
     ("127.0.0.1", "6.6.6.6, 198.51.100.1, 10.0.0.2", ["127.0.0.1/32", "10.0.0.0/8"],
      "198.51.100.1"),  # the client wrote 6.6.6.6 itself
     ("127.0.0.1", "junk, 10.0.0.2", ["127.0.0.1/32", "10.0.0.0/8"], "10.0.0.2")],
)  # fmt: skip
def test_x_forwarded_for_counts_only_from_trusted_proxies(
    peer: str, header: str, trusted: list[str], client: str
) -> None:
    assert forwarded_client(peer, header, trusted) == client


# --- confirming -----------------------------------------------------------------------


def test_confirming_adds_the_row_and_records_the_consent_once(files: ListFiles) -> None:
    found = Confirmation(BOB, NOW)
    done = confirm(files, found, "198.51.100.7", NOW + timedelta(minutes=3))
    assert (done.outcome, done.new) == ("subscribed", True)
    row = rows(files)["bob@example.org"]
    assert (row["name"], row["status"], row["sections"]) == ("Bob", "active", "World")
    again = confirm(files, found, "198.51.100.8", NOW + timedelta(minutes=9))
    assert (again.outcome, again.new) == ("subscribed", False)
    with Store(files.database) as store:
        consent = Consents(store).lookup(["bob@example.org"])["bob@example.org"]
    assert (consent.ip, consent.confirmed_at) == ("198.51.100.7", "2026-11-27T09:03:00+00:00")
    assert list(rows(files)).count("bob@example.org") == 1


def test_someone_who_unsubscribed_comes_back_only_by_a_newer_confirmation(files: ListFiles) -> None:
    alan = SignupRequest("alan@example.com")
    with Store(files.database) as store:
        Suppressions(store).record("alan@example.com", SubscriberStatus.UNSUBSCRIBED, "web", NOW)
    stale = confirm(files, Confirmation(alan, NOW - timedelta(hours=1)), "10.0.0.1", NOW)
    assert stale.outcome == "left since"
    assert rows(files)["alan@example.com"]["status"] == "unsubscribed"
    fresh = confirm(files, Confirmation(alan, NOW + timedelta(minutes=1)), "10.0.0.1", NOW)
    assert fresh.outcome == "subscribed"
    assert rows(files)["alan@example.com"]["status"] == "active"
    with Store(files.database) as store:
        assert Suppressions(store).record_of("alan@example.com") is None


def test_a_complaint_is_never_lifted_from_the_form(files: ListFiles) -> None:
    with Store(files.database) as store:
        Suppressions(store).record("ada@example.com", COMPLAINT, "feedback loop", NOW)
        # an unsubscribe afterwards keeps the stronger record
        Suppressions(store).record("ada@example.com", SubscriberStatus.UNSUBSCRIBED, "web", NOW)
        assert Suppressions(store).record_of("ada@example.com").status == COMPLAINT  # type: ignore[union-attr]
    found = Confirmation(SignupRequest("ada@example.com"), NOW + timedelta(hours=1))
    assert confirm(files, found, "10.0.0.1", NOW + timedelta(hours=1)).outcome == "complaint"
    assert apply_if_free(files, NOW) == 1  # the CSV says unsubscribed for a complaint
    assert rows(files)["ada@example.com"]["status"] == "unsubscribed"


def test_a_confirmation_during_a_send_is_recorded_then_written_when_the_lock_is_free(
    project: Project, files: ListFiles
) -> None:
    files = ListFiles(files.subscribers, project.path / "newsletter.db")
    with lock_held(project):
        done = confirm(files, Confirmation(BOB, NOW), "10.0.0.1", NOW)
        assert done.outcome == "queued"
        assert "bob@example.org" not in rows(files)
    assert apply_if_free(files, NOW) == 1
    assert rows(files)["bob@example.org"]["status"] == "active"
