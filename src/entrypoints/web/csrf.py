"""Which requests Pyramid's CSRF check covers (``require_csrf`` with this callback).

- A request with an ``Authorization: Bearer`` header is an API client's:
  browsers never add one on their own, so it cannot be forged cross-site,
  and it is not checked.
- Every write to a page (a form) is checked: the token comes in the
  ``csrf_token`` field or the ``X-CSRF-Token`` header. A form is read only
  when it declares a small length, so Pyramid's look for the field never
  reads a large body.
- A write to the API that the session cookie authenticates is checked too,
  and its token must come in the ``X-CSRF-Token`` header: the body (JSON, a
  model file) is never parsed as a form to look for one. Without a signed-in
  session, an API call carries no credentials a forger could borrow.

Pyramid also checks the ``Origin`` (or ``Referer``) of https requests.
"""

from __future__ import annotations

from pyramid.exceptions import BadCSRFToken
from pyramid.httpexceptions import HTTPException, HTTPLengthRequired, HTTPRequestEntityTooLarge
from pyramid.request import Request

from domain.errors import NotAuthenticated
from entrypoints.web.bodies import MAX_FORM_BODY
from entrypoints.web.routes import ROUTES
from entrypoints.web.security import bearer_token
from entrypoints.web.sessions import signed_in

HEADER = "X-CSRF-Token"


def csrf_applies(request: Request) -> bool:
    """Whether the CSRF check applies to this write (see the module's text)."""
    try:
        if bearer_token(request.headers.get("Authorization")) is not None:
            return False
    except NotAuthenticated:
        return False  # a malformed Bearer header: the security policy refuses it
    route = request.matched_route
    if route is None or route.name not in ROUTES:
        _check_form_length(request)
        return True
    if not signed_in(request.session):
        return False
    if not request.headers.get(HEADER):
        raise _explained(
            BadCSRFToken(), f"A request signed in by the session cookie needs the {HEADER} header."
        )
    return True


def _check_form_length(request: Request) -> None:
    """Refuse a page's body that is not a small form, before anything reads it."""
    length = request.content_length
    if length is None:
        raise _explained(HTTPLengthRequired(), "A form needs a Content-Length.")
    if length > MAX_FORM_BODY:
        raise _explained(
            HTTPRequestEntityTooLarge(), f"A form may not exceed {MAX_FORM_BODY} bytes."
        )


def _explained(error: HTTPException, explanation: str) -> HTTPException:
    """``error`` with the explanation its page or JSON body shows."""
    error.explanation = explanation
    return error
