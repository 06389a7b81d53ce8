"""The users service: who may read and manage accounts, and what each change does
to the tokens already issued. In memory, with a fake clock."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from adapters.memory import MemoryUnitOfWork, PlainPasswordHasher
from domain.errors import Conflict, Invalid, NotAuthenticated, NotFound, PermissionDenied
from domain.model import User
from domain.permissions import SYSTEM
from domain.resources import USER
from domain.services.auth import BAD_CREDENTIALS, Auth
from domain.services.users import Users
from domain.validation import BLANK, NOT_BOOL, NOT_NULL, NOT_TEXT, REQUIRED, too_long
from tests.unit.conftest import PASSWORDS, FakeClock, add_user

DUPLICATE = "A user with that username already exists."
BAD_USERNAME = "Enter a valid username: letters, digits and @/./+/-/_ only."
REVOKED = "Token has been revoked"
INACTIVE = "User is inactive"


def invalid_fields(action: Callable[[], Any]) -> dict[str, list[str]]:
    with pytest.raises(Invalid) as caught:
        action()
    return caught.value.fields


def refused(action: Callable[[], Any]) -> str:
    """The detail of the ``NotAuthenticated`` that ``action`` raises."""
    with pytest.raises(NotAuthenticated) as caught:
        action()
    return caught.value.detail


@pytest.fixture
def bob(uow: MemoryUnitOfWork, hasher: PlainPasswordHasher) -> User:
    """A second normal user, to show users cannot see each other."""
    return add_user(uow, hasher, "bob", "bob-secret", email="bob@lab.org")


# -- list -----------------------------------------------------------------------------


def test_admin_lists_every_user_in_pk_order(
    users: Users, admin: User, user: User, inactive: User, bob: User
) -> None:
    assert users.list(admin) == [admin, user, inactive, bob]
    assert users.list(admin, {}) == [admin, user, inactive, bob]


@pytest.mark.parametrize(
    ("who", "error"),
    [("anonymous", NotAuthenticated), ("inactive", NotAuthenticated), ("user", PermissionDenied)],
)
def test_only_active_admins_list_users(
    who: str, error: type[Exception], request: pytest.FixtureRequest, users: Users
) -> None:
    with pytest.raises(error):
        users.list(request.getfixturevalue(who))


def test_list_filters_and_orders(
    users: Users, admin: User, user: User, inactive: User, bob: User
) -> None:
    def names(spec: dict[str, Any]) -> list[str]:
        return [u.username for u in users.list(admin, spec)]

    staff = {"expressions": [{"type": "exact", "field": "is_staff", "value": True}]}
    assert names(staff) == ["admin", "inactive"]
    active_staff = {
        "expressions": [
            {"type": "exact", "field": "is_staff", "value": True},
            {"type": "exact", "field": "is_active", "value": True},
        ]
    }
    assert names(active_staff) == ["admin"]
    email = {"expressions": [{"type": "contains", "field": "email", "sub_string": "@LAB"}]}
    assert names(email) == []
    email["expressions"][0]["case_insensitive"] = True
    assert names(email) == ["bob"]
    descending = {"order_by": [{"field": "username", "ascending": False}]}
    assert names(descending) == ["user", "inactive", "bob", "admin"]


@pytest.mark.parametrize("field", sorted(USER.filters))
def test_every_user_field_may_be_filtered_and_ordered(
    field: str, users: Users, admin: User, user: User
) -> None:
    spec = {
        "expressions": [{"type": "isnull", "field": field, "invert": True}],
        "order_by": [{"field": field}],
    }
    found = users.list(admin, spec)
    expected = [admin, user] if field not in ("date_joined", "last_login") else []
    assert sorted(found, key=lambda u: u.pk or 0) == expected


def test_is_superuser_may_be_filtered(users: Users, admin: User, user: User) -> None:
    admin.is_superuser = True
    spec = {"expressions": [{"type": "exact", "field": "is_superuser", "value": True}]}
    assert users.list(admin, spec) == [admin]


@pytest.mark.parametrize("field", ["password", "password_hash", "token_generation"])
@pytest.mark.parametrize(
    "spec",
    [
        {"expressions": [{"type": "exact", "field": "{}", "value": "x"}]},
        {"expressions": [{"type": "contains", "field": "{}", "sub_string": "plain$"}]},
        {"expressions": [{"type": "isnull", "field": "{}"}]},
        {"expressions": [{"type": "compare", "field": "{}", "operator": ">", "value": "a"}]},
        {"order_by": [{"field": "{}"}]},
    ],
    ids=["exact", "contains", "isnull", "compare", "order_by"],
)
def test_secrets_cannot_be_filtered_or_ordered(
    field: str, spec: dict[str, Any], users: Users, admin: User, user: User
) -> None:
    """Else a prefix search on the hash would read it out one character at a time."""
    spec = {
        key: [{k: (field if v == "{}" else v) for k, v in item.items()} for item in items]
        for key, items in spec.items()
    }
    with pytest.raises(Invalid) as caught:
        users.list(admin, spec)
    assert field in caught.value.detail


# -- retrieve and get by username ----------------------------------------------------------


def test_admin_retrieves_anyone(users: Users, admin: User, user: User, inactive: User) -> None:
    for someone in (admin, user, inactive):
        assert users.retrieve(admin, someone.pk) is someone
        assert users.get_by_username(admin, someone.username) is someone


def test_a_user_retrieves_themself(users: Users, user: User) -> None:
    assert users.retrieve(user, user.pk) is user
    assert users.get_by_username(user, "user") is user


@pytest.mark.parametrize("target", ["admin", "bob", "no-such-user"])
def test_a_user_cannot_retrieve_anyone_else(
    target: str, users: Users, user: User, admin: User, bob: User, uow: MemoryUnitOfWork
) -> None:
    """Even a missing account is a 403, so a user cannot probe which ones exist."""
    existing = uow.users.get_by_username(target)
    pk = existing.pk if existing is not None else 999
    with pytest.raises(PermissionDenied):
        users.retrieve(user, pk)
    with pytest.raises(PermissionDenied):
        users.get_by_username(user, target)


def test_retrieve_needs_an_active_account(
    users: Users, user: User, inactive: User, anonymous: None
) -> None:
    for actor in (anonymous, inactive):
        with pytest.raises(NotAuthenticated):
            users.retrieve(actor, user.pk)
        with pytest.raises(NotAuthenticated):
            users.get_by_username(actor, "user")
    # An inactive user cannot read even their own account.
    with pytest.raises(NotAuthenticated):
        users.retrieve(inactive, inactive.pk)


def test_missing_user_is_not_found_for_admin(users: Users, admin: User) -> None:
    with pytest.raises(NotFound):
        users.retrieve(admin, 999)
    with pytest.raises(NotFound):
        users.get_by_username(admin, "nobody")


def test_username_lookup_is_exact(users: Users, admin: User, user: User) -> None:
    with pytest.raises(NotFound):
        users.get_by_username(admin, "USER")
    with pytest.raises(PermissionDenied):
        users.get_by_username(user, "USER")


# -- create ---------------------------------------------------------------------------


def test_create_stamps_date_joined_and_hashes_the_password(
    users: Users, admin: User, hasher: PlainPasswordHasher, clock: FakeClock
) -> None:
    joined = clock.advance(hours=5)
    created = users.create(admin, {"username": "carol", "password": "carol-pw"})
    clock.advance(hours=1)
    assert created.date_joined == joined
    assert created.last_login is None
    assert created.password_hash != "carol-pw"
    assert "carol-pw" not in created.password_hash
    assert hasher.verify(created.password_hash, "carol-pw")


def test_create_ignores_a_password_hash_sent_by_the_client(
    users: Users, auth: Auth, admin: User, hasher: PlainPasswordHasher
) -> None:
    created = users.create(
        admin,
        {"username": "carol", "password": "real", "password_hash": hasher.hash("chosen")},
    )
    assert hasher.verify(created.password_hash, "real")
    refused(lambda: auth.obtain("carol", "chosen"))


def test_usernames_are_unique(users: Users, admin: User, user: User) -> None:
    fields = invalid_fields(lambda: users.create(admin, {"username": "user", "password": "pw"}))
    assert fields == {"username": [DUPLICATE]}
    assert [u.username for u in users.list(admin)] == ["admin", "user"]


@pytest.mark.parametrize(
    "username", ["carol smith", "carol!", "carol/x", "carol\n", "carol#1", "c%41rol", "a,b"]
)
def test_create_refuses_bad_username_characters(username: str, users: Users, admin: User) -> None:
    fields = invalid_fields(lambda: users.create(admin, {"username": username, "password": "pw"}))
    assert fields == {"username": [BAD_USERNAME]}


@pytest.mark.parametrize("username", ["2024", "007", "list", "create"])
def test_create_refuses_names_the_routes_would_misread(
    username: str, users: Users, admin: User
) -> None:
    fields = invalid_fields(lambda: users.create(admin, {"username": username, "password": "pw"}))
    assert fields == {"username": ["This username is reserved or looks like a number."]}


@pytest.mark.parametrize(
    "username", ["c", "carol.smith+ml@lab", "under_score", "jürgen", "x" * 150, "a1", "listing"]
)
def test_create_accepts_good_usernames(username: str, users: Users, admin: User) -> None:
    assert users.create(admin, {"username": username, "password": "pw"}).username == username


@pytest.mark.parametrize(
    ("data", "errors"),
    [
        ({"password": "pw"}, {"username": [REQUIRED]}),
        ({"username": "", "password": "pw"}, {"username": [BLANK]}),
        ({"username": "u" * 151, "password": "pw"}, {"username": [too_long(150)]}),
        ({"username": 7, "password": "pw"}, {"username": [NOT_TEXT]}),
        ({"username": "carol"}, {"password": [REQUIRED]}),
        ({"username": "carol", "password": ""}, {"password": [BLANK]}),
        ({"username": "carol", "password": "p" * 4097}, {"password": [too_long(4096)]}),
        ({"username": "", "password": ""}, {"username": [BLANK], "password": [BLANK]}),
    ],
    ids=[
        "no-username",
        "empty-username",
        "long-username",
        "number-username",
        "no-password",
        "empty-password",
        "long-password",
        "both-empty",
    ],
)
def test_create_refuses_bad_usernames_and_passwords(
    data: dict[str, Any], errors: dict[str, list[str]], users: Users, admin: User
) -> None:
    assert invalid_fields(lambda: users.create(admin, data)) == errors
    assert [u.username for u in users.list(admin)] == ["admin"]


# -- update and partial update -------------------------------------------------------------


def test_put_requires_the_username(users: Users, admin: User, user: User) -> None:
    fields = invalid_fields(lambda: users.update(admin, user.pk, {"first_name": "Ann"}))
    assert fields == {"username": [REQUIRED]}
    assert user.first_name == ""


def test_put_sets_the_given_fields(users: Users, admin: User, user: User) -> None:
    pk = user.pk
    updated = users.update(
        admin,
        user.pk,
        {
            "username": "ann",
            "first_name": "Ann",
            "last_name": "Lee",
            "email": "ann@lab.org",
            "is_staff": True,
            "is_superuser": True,
            "pk": 77,
            "date_joined": "2000-01-01T00:00:00Z",
        },
    )
    assert updated is user
    assert (user.pk, user.username, user.first_name, user.last_name, user.email) == (
        pk,
        "ann",
        "Ann",
        "Lee",
        "ann@lab.org",
    )
    assert (user.is_active, user.is_staff, user.is_superuser) == (True, True, True)
    assert user.date_joined is None
    assert users.get_by_username(admin, "ann") is user
    with pytest.raises(NotFound):
        users.get_by_username(admin, "user")


def test_put_keeping_ones_own_username_is_no_duplicate(
    users: Users, admin: User, user: User
) -> None:
    users.update(admin, user.pk, {"username": "user", "first_name": "Ann"})
    assert (user.username, user.first_name) == ("user", "Ann")


def test_patch_changes_only_what_is_sent(users: Users, admin: User, user: User) -> None:
    user.email = "old@lab.org"
    before = dict(vars(user))
    assert users.update(admin, user.pk, {}, partial=True) is user
    assert vars(user) == before
    users.update(admin, user.pk, {"last_name": "Lee"}, partial=True)
    assert vars(user) == {**before, "last_name": "Lee"}


@pytest.mark.parametrize("partial", [False, True], ids=["put", "patch"])
def test_rename_to_a_taken_username_is_refused(
    partial: bool, users: Users, admin: User, user: User, bob: User
) -> None:
    data = {"username": "bob", "first_name": "Bob"}
    fields = invalid_fields(lambda: users.update(admin, user.pk, data, partial=partial))
    assert fields == {"username": [DUPLICATE]}
    assert (user.username, user.first_name) == ("user", "")


@pytest.mark.parametrize(
    ("data", "errors"),
    [
        ({"username": ""}, {"username": [BLANK]}),
        ({"username": "u" * 151}, {"username": [too_long(150)]}),
        ({"username": "a b"}, {"username": [BAD_USERNAME]}),
        ({"password": ""}, {"password": [BLANK]}),
        ({"is_active": "no"}, {"is_active": [NOT_BOOL]}),
        ({"first_name": "Ann", "email": "nope"}, {"email": ["Enter a valid email address."]}),
    ],
)
def test_invalid_update_changes_nothing(
    data: dict[str, Any],
    errors: dict[str, list[str]],
    users: Users,
    auth: Auth,
    admin: User,
    user: User,
) -> None:
    tokens = auth.obtain("user", PASSWORDS["user"])
    before = dict(vars(user))
    assert invalid_fields(lambda: users.update(admin, user.pk, data, partial=True)) == errors
    assert vars(user) == before
    assert auth.authenticate(tokens["access"]) is user


def test_only_active_admins_update(
    users: Users, user: User, inactive: User, anonymous: None, admin: User
) -> None:
    for actor, error in ((anonymous, NotAuthenticated), (inactive, NotAuthenticated)):
        with pytest.raises(error):
            users.update(actor, admin.pk, {"first_name": "X"}, partial=True)
    # Not even one's own account: a user cannot make themself staff.
    with pytest.raises(PermissionDenied):
        users.update(user, user.pk, {"is_staff": True}, partial=True)
    assert (user.is_staff, admin.first_name) == (False, "")


def test_update_of_a_missing_user_is_not_found(users: Users, admin: User) -> None:
    with pytest.raises(NotFound):
        users.update(admin, 999, {"first_name": "X"}, partial=True)


def test_password_change_rehashes_and_revokes_old_tokens(
    users: Users, auth: Auth, admin: User, user: User, hasher: PlainPasswordHasher
) -> None:
    old = auth.obtain("user", PASSWORDS["user"])
    users.update(admin, user.pk, {"password": "brand-new"}, partial=True)
    assert user.password_hash == hasher.hash("brand-new")
    assert refused(lambda: auth.authenticate(old["access"])) == REVOKED
    assert refused(lambda: auth.refresh(old["refresh"])) == REVOKED
    assert refused(lambda: auth.verify(old["access"])) == REVOKED
    assert refused(lambda: auth.obtain("user", PASSWORDS["user"])) == BAD_CREDENTIALS
    new = auth.obtain("user", "brand-new")
    assert auth.authenticate(new["access"]) is user
    assert auth.authenticate(auth.refresh(new["refresh"])["access"]) is user


def test_put_with_a_password_changes_it_too(
    users: Users, auth: Auth, admin: User, user: User
) -> None:
    old = auth.obtain("user", PASSWORDS["user"])
    users.update(admin, user.pk, {"username": "user", "password": "brand-new"})
    assert refused(lambda: auth.authenticate(old["access"])) == REVOKED
    auth.obtain("user", "brand-new")


def test_update_without_password_keeps_tokens_and_password(
    users: Users, auth: Auth, admin: User, user: User
) -> None:
    old = auth.obtain("user", PASSWORDS["user"])
    users.update(admin, user.pk, {"username": "renamed", "first_name": "Ann"})
    assert auth.authenticate(old["access"]) is user
    auth.obtain("renamed", PASSWORDS["user"])


def test_setting_is_active_false_revokes_tokens(
    users: Users, auth: Auth, admin: User, user: User
) -> None:
    old = auth.obtain("user", PASSWORDS["user"])
    users.update(admin, user.pk, {"is_active": False}, partial=True)
    assert user.is_active is False
    assert refused(lambda: auth.authenticate(old["access"])) == INACTIVE
    assert refused(lambda: auth.obtain("user", PASSWORDS["user"])) == BAD_CREDENTIALS
    # Reactivated, the account logs in again, but the old tokens stay dead.
    users.update(admin, user.pk, {"is_active": True}, partial=True)
    assert refused(lambda: auth.authenticate(old["access"])) == REVOKED
    assert refused(lambda: auth.refresh(old["refresh"])) == REVOKED
    fresh = auth.obtain("user", PASSWORDS["user"])
    assert auth.authenticate(fresh["access"]) is user


@pytest.mark.parametrize(("before", "after"), [(False, True), (True, False)])
def test_a_change_of_is_staff_revokes_tokens_and_new_ones_say_it(
    users: Users, auth: Auth, admin: User, bob: User, before: bool, after: bool
) -> None:
    """Access tokens record whether they were issued to an admin, so that
    uploads can be refused before their body is read; a change of role must
    not leave tokens that say otherwise."""
    bob.is_staff = before
    old = auth.obtain("bob", "bob-secret")
    assert auth.tokens.denies_admin(old["access"]) is not before
    users.update(admin, bob.pk, {"is_staff": after}, partial=True)
    assert refused(lambda: auth.authenticate(old["access"])) == REVOKED
    fresh = auth.obtain("bob", "bob-secret")
    assert auth.tokens.denies_admin(fresh["access"]) is not after
    assert auth.authenticate(fresh["access"]) is bob
    # Setting is_staff to what it already is revokes nothing.
    users.update(admin, bob.pk, {"is_staff": after, "first_name": "Bob"}, partial=True)
    assert auth.authenticate(fresh["access"]) is bob


def test_only_a_valid_access_token_of_an_admin_may_act_as_one(
    auth: Auth, admin: User, clock: FakeClock
) -> None:
    tokens = auth.obtain("admin", PASSWORDS["admin"])
    unmarked = dict(auth.tokens.signer.decode(tokens["access"]))
    del unmarked["adm"]  # issued before tokens recorded is_staff: the account decides
    assert auth.tokens.denies_admin(auth.tokens.signer.sign(unmarked)) is False
    assert auth.tokens.denies_admin(tokens["access"]) is False
    assert auth.tokens.denies_admin(tokens["refresh"]) is True
    for junk in (None, "", "not-a-token", 42, "x\ud800"):
        assert auth.tokens.denies_admin(junk) is True
    clock.advance(minutes=6)
    assert auth.tokens.denies_admin(tokens["access"]) is True


@pytest.mark.parametrize(
    ("field", "text", "message"),
    [
        ("first_name", "A\x00nn", "Null characters are not allowed."),
        ("username", "a\udc80", "Surrogate characters are not allowed: U+DC80."),
        ("password", "pass\ud800word", "Surrogate characters are not allowed: U+D800."),
    ],
)
def test_text_no_database_keeps_is_invalid(
    users: Users, admin: User, field: str, text: str, message: str
) -> None:
    body = {"username": "carol", "password": "carol-secret", field: text}
    assert invalid_fields(lambda: users.create(admin, body)) == {field: [message]}


def test_a_username_no_account_can_have_is_not_found(users: Users, admin: User) -> None:
    with pytest.raises(NotFound):
        users.get_by_username(admin, "us\x00er")


@pytest.mark.parametrize(
    "data",
    [
        {"is_active": False},
        {"is_staff": False},
        {"is_active": False, "is_staff": False},
        {"first_name": "Me", "password": "changed", "is_staff": False},
    ],
)
def test_admin_cannot_deactivate_or_demote_themself(
    data: dict[str, Any], users: Users, auth: Auth, admin: User
) -> None:
    tokens = auth.obtain("admin", PASSWORDS["admin"])
    with pytest.raises(Conflict):
        users.update(admin, admin.pk, data, partial=True)
    with pytest.raises(Conflict):
        users.update(admin, admin.pk, {"username": "admin", **data})
    assert (admin.is_active, admin.is_staff, admin.first_name) == (True, True, "")
    assert auth.authenticate(tokens["access"]) is admin
    auth.obtain("admin", PASSWORDS["admin"])


def test_admin_may_keep_their_own_flags_and_edit_themself(users: Users, admin: User) -> None:
    users.update(
        admin, admin.pk, {"is_active": True, "is_staff": True, "first_name": "Me"}, partial=True
    )
    assert (admin.is_active, admin.is_staff, admin.first_name) == (True, True, "Me")


def test_an_admin_may_demote_another_admin(users: Users, admin: User, user: User) -> None:
    other = users.create(admin, {"username": "root2", "password": "pw", "is_staff": True})
    users.update(other, admin.pk, {"is_staff": False}, partial=True)
    assert admin.is_staff is False
    with pytest.raises(PermissionDenied):
        users.list(admin)


# -- deactivate (destroy) ---------------------------------------------------------------


def test_deactivate_keeps_the_account_and_revokes_its_tokens(
    users: Users, auth: Auth, admin: User, user: User
) -> None:
    old = auth.obtain("user", PASSWORDS["user"])
    assert users.deactivate(admin, user.pk) is None
    assert users.retrieve(admin, user.pk) is user
    assert user.is_active is False
    for token in old.values():
        assert refused(lambda token=token: auth.verify(token)) == INACTIVE
    assert refused(lambda: auth.refresh(old["refresh"])) == INACTIVE
    assert refused(lambda: auth.obtain("user", PASSWORDS["user"])) == BAD_CREDENTIALS
    users.update(admin, user.pk, {"is_active": True}, partial=True)
    assert refused(lambda: auth.authenticate(old["access"])) == REVOKED


def test_deactivating_twice_is_harmless(users: Users, admin: User, user: User) -> None:
    users.deactivate(admin, user.pk)
    users.deactivate(admin, user.pk)
    assert user.is_active is False
    assert users.retrieve(admin, user.pk) is user


def test_admin_cannot_deactivate_themself(users: Users, auth: Auth, admin: User) -> None:
    tokens = auth.obtain("admin", PASSWORDS["admin"])
    with pytest.raises(Conflict):
        users.deactivate(admin, admin.pk)
    assert admin.is_active is True
    assert auth.authenticate(tokens["access"]) is admin


def test_only_active_admins_deactivate(
    users: Users, user: User, bob: User, inactive: User, anonymous: None
) -> None:
    for actor, error in (
        (anonymous, NotAuthenticated),
        (inactive, NotAuthenticated),
        (user, PermissionDenied),
    ):
        with pytest.raises(error):
            users.deactivate(actor, bob.pk)
    with pytest.raises(PermissionDenied):
        users.deactivate(user, user.pk)
    assert bob.is_active and user.is_active


def test_deactivating_a_missing_user_is_not_found(users: Users, admin: User) -> None:
    with pytest.raises(NotFound):
        users.deactivate(admin, 999)


# -- set_password ------------------------------------------------------------------------


@pytest.mark.parametrize("actor", ["admin", "system"])
def test_set_password(
    actor: str, users: Users, auth: Auth, admin: User, user: User, hasher: PlainPasswordHasher
) -> None:
    old = auth.obtain("user", PASSWORDS["user"])
    result = users.set_password(admin if actor == "admin" else SYSTEM, "user", "reset-pw")
    assert result is user
    assert user.password_hash == hasher.hash("reset-pw")
    assert refused(lambda: auth.authenticate(old["access"])) == REVOKED
    assert refused(lambda: auth.obtain("user", PASSWORDS["user"])) == BAD_CREDENTIALS
    auth.obtain("user", "reset-pw")


@pytest.mark.parametrize(
    ("password", "message"),
    [(None, NOT_NULL), ("", BLANK), (1234, NOT_TEXT), ("p" * 4097, too_long(4096))],
)
def test_set_password_refuses_bad_passwords(
    password: Any, message: str, users: Users, auth: Auth, admin: User, user: User
) -> None:
    old = auth.obtain("user", PASSWORDS["user"])
    fields = invalid_fields(lambda: users.set_password(admin, "user", password))
    assert fields == {"password": [message]}
    assert auth.authenticate(old["access"]) is user
    auth.obtain("user", PASSWORDS["user"])


def test_set_password_permissions_and_missing_user(
    users: Users, admin: User, user: User, anonymous: None
) -> None:
    with pytest.raises(NotAuthenticated):
        users.set_password(anonymous, "user", "x")
    with pytest.raises(PermissionDenied):
        users.set_password(user, "user", "x")
    with pytest.raises(NotFound):
        users.set_password(admin, "nobody", "x")


# -- tokens and inactive accounts ----------------------------------------------------------


def test_obtain_refuses_a_deactivated_user_with_the_right_password(
    users: Users, auth: Auth, admin: User, user: User
) -> None:
    users.deactivate(admin, user.pk)
    assert refused(lambda: auth.obtain("user", PASSWORDS["user"])) == BAD_CREDENTIALS
    assert user.last_login is None


def test_tokens_issued_after_a_password_change_work(
    users: Users, auth: Auth, admin: User, user: User, clock: FakeClock
) -> None:
    users.set_password(admin, "user", "one")
    first = auth.obtain("user", "one")
    clock.advance(seconds=1)
    users.set_password(admin, "user", "two")
    second = auth.obtain("user", "two")
    assert refused(lambda: auth.authenticate(first["access"])) == REVOKED
    assert auth.authenticate(second["access"]) is user
