"""Flask integration: sign a user in from a posted SAMLResponse or a bearer token, then
guard views with :func:`require_privilege`.

Needs Flask (the fagsystem's own dependency; the ``verifier`` extra does not pull it in).

    from verifier.flask import login_saml, require_privilege

    @app.post("/saml/acs")
    def acs():
        try:
            login_saml(idp_metadata=METADATA, sp_entity_id=SP, acs_url=ACS,
                       request_id=session.pop("saml_request_id", None))
        except InvalidToken:
            abort(403)
        return redirect("/")

    @app.get("/cases/<kle>")
    @require_privilege(LAES_SAG, cvr_from=lambda **_: session["verifier.user"]["cvr"],
                       kle=lambda kle, **_: kle)
    def case(kle): ...
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any, NoReturn, TypeVar, cast

from flask import Response, abort, g, request, session

from verifier import jwt as _jwt
from verifier.errors import InvalidToken
from verifier.privileges import PrivilegeGroup, PrivilegeSet, from_priv
from verifier.saml import Assertion, verify_response

__all__ = [
    "SESSION_PRIVILEGES",
    "SESSION_USER",
    "authenticate_bearer",
    "current_privileges",
    "login_saml",
    "logout",
    "require_privilege",
]

SESSION_USER = "verifier.user"
SESSION_PRIVILEGES = "verifier.privileges"

F = TypeVar("F", bound=Callable[..., Any])
Getter = Callable[..., Any] | str


def _dump(privileges: PrivilegeSet) -> list[dict[str, Any]]:
    return [
        {
            "privilege": group.privilege,
            "scope": group.scope,
            "constraints": {name: list(values) for name, values in group.constraints.items()},
        }
        for group in privileges
    ]


def _load(stored: list[dict[str, Any]]) -> PrivilegeSet:
    return PrivilegeSet(
        PrivilegeGroup(
            item["privilege"],
            item["scope"],
            {name: tuple(values) for name, values in item["constraints"].items()},
        )
        for item in stored
    )


def login_saml(**verify_args: Any) -> Assertion:
    """Verify ``request.form["SAMLResponse"]`` and sign the user in to the Flask session.

    Takes the keyword arguments of :func:`verifier.saml.verify_response`. The session is
    cleared first (no session fixation), then holds the user under ``SESSION_USER`` and
    the privileges under ``SESSION_PRIVILEGES``. Raises :class:`InvalidToken`.
    """
    posted = request.form.get("SAMLResponse")
    if not posted:
        raise InvalidToken("malformed", "no SAMLResponse in the form")
    assertion = verify_response(posted, **verify_args)
    session.clear()
    session[SESSION_USER] = {
        "name_id": assertion.name_id,
        "cvr": assertion.cvr,
        "loa": assertion.loa,
        "session_index": assertion.session_index,
        "issuer": assertion.issuer,
    }
    session[SESSION_PRIVILEGES] = _dump(assertion.privileges)
    g.verifier_privileges = assertion.privileges
    return assertion


def logout() -> None:
    """Forget the signed-in user."""
    session.pop(SESSION_USER, None)
    session.pop(SESSION_PRIVILEGES, None)
    g.pop("verifier_privileges", None)
    g.pop("verifier_claims", None)


def authenticate_bearer(**verify_args: Any) -> dict[str, Any]:
    """Verify the ``Authorization: Bearer`` token of this request; 401 when absent or bad.

    Takes the keyword arguments of :func:`verifier.jwt.verify`. The claims go to
    ``g.verifier_claims``, the ``priv`` privileges to ``g.verifier_privileges``.
    """
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        _unauthorized("Bearer")
    try:
        claims = _jwt.verify(token.strip(), **verify_args)
        privileges = from_priv(claims["priv"]) if "priv" in claims else PrivilegeSet()
    except InvalidToken:
        _unauthorized('Bearer error="invalid_token"')
    g.verifier_claims = claims
    g.verifier_privileges = privileges
    return claims


def _unauthorized(challenge: str) -> NoReturn:
    abort(Response("Unauthorized\n", 401, {"WWW-Authenticate": challenge}, mimetype="text/plain"))


def current_privileges() -> PrivilegeSet | None:
    """The verified privileges of this request (bearer token) or session (SAML login)."""
    privileges = g.get("verifier_privileges")
    if isinstance(privileges, PrivilegeSet):
        return privileges
    stored = session.get(SESSION_PRIVILEGES)
    if stored is None:
        return None
    return _load(stored)


def _value(getter: Getter, view_args: Mapping[str, Any]) -> Any:
    return getter(**view_args) if callable(getter) else getter


def require_privilege(
    role: str, *, cvr_from: Getter, **constraint_getters: Getter
) -> Callable[[F], F]:
    """Let the view run only when the signed-in user holds ``role`` for the CVR and data.

    ``cvr_from`` and each constraint getter (``kle=``, ``orgenhed=``, ``itsystem=`` or
    ``constraints=`` returning a ``{uri: value}`` mapping) is a constant or a callable
    called with the view's keyword arguments. 403 when nobody is signed in, a getter
    returns None, or :meth:`PrivilegeSet.allows` says no.
    """

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            privileges = current_privileges()
            if privileges is None:
                abort(403)
            cvr = _value(cvr_from, kwargs)
            values = {name: _value(getter, kwargs) for name, getter in constraint_getters.items()}
            if cvr is None or any(v is None for v in values.values()):
                abort(403)
            if not privileges.allows(role, cvr=cvr, **values):
                abort(403)
            return view(*args, **kwargs)

        return cast(F, guarded)

    return decorate
