"""What a form asks before it is shown: may this user change these records,
and may this record be changed now."""

from __future__ import annotations

import pytest

from domain.errors import Conflict, NotAuthenticated, NotFound, PermissionDenied
from domain.model import Framework, PretrainedModel, User
from domain.services.frameworks import Frameworks
from domain.services.pretrained_models import PretrainedModels
from domain.services.users import Users


def test_only_admins_are_shown_a_models_forms(
    models: PretrainedModels, admin: User, user: User, model: PretrainedModel
) -> None:
    models.authorise_change(admin)
    assert models.for_change(admin, model.pk) is model
    for actor, error in ((None, NotAuthenticated), (user, PermissionDenied)):
        with pytest.raises(error):
            models.authorise_change(actor)
        with pytest.raises(error):
            models.for_change(actor, model.pk)
    with pytest.raises(NotFound):
        models.for_change(admin, 999)


def test_a_deleted_model_is_shown_for_a_hard_delete_only(
    models: PretrainedModels, admin: User, model: PretrainedModel
) -> None:
    models.soft_delete(admin, model.pk)
    with pytest.raises(Conflict):
        models.for_change(admin, model.pk)
    assert models.for_change(admin, model.pk, writable=False) is model


def test_frameworks_and_users_are_shown_for_change_to_admins(
    frameworks: Frameworks, users: Users, framework: Framework, admin: User, user: User
) -> None:
    assert frameworks.for_change(admin, framework.pk) is framework
    assert users.for_change(admin, user.pk) is user
    with pytest.raises(PermissionDenied):
        frameworks.for_change(user, framework.pk)
    with pytest.raises(PermissionDenied):
        users.for_change(user, user.pk)
