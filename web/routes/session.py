"""The development sign-in (off unless PLANNER_DEV_LOGIN=true) and sign-out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import RedirectResponse

from planner.userids import problem
from services.signins import end_sign_in, start_sign_in
from web.auth import verify_csrf
from web.deps import get_settings
from web.rendering import render

router = APIRouter(tags=["session"], include_in_schema=False)  # pages, not the API


def _local(path: str) -> str:
    """Only paths on this site (no //host) are followed after signing in."""
    return path if path.startswith("/") and not path.startswith("//") else "/plans"


@router.get("/login")
def login_page(request: Request, next: str = "/plans"):
    if not get_settings(request).dev_login:
        raise HTTPException(404, "sign in through the company's single sign-on")
    return render(request, "login.html", {"next": _local(next)})


@router.post("/login", dependencies=[Depends(verify_csrf)])
def login(request: Request, user: Annotated[str, Form()] = "", role: Annotated[str, Form()] = "lead",
          next: Annotated[str, Form()] = "/plans", department: Annotated[str, Form()] = "",
          location: Annotated[str, Form()] = ""):
    config = get_settings(request)
    if not config.dev_login:
        raise HTTPException(404, "sign in through the company's single sign-on")
    user = user.strip()
    wrong = problem(user)
    if wrong:
        return render(request, "login.html", {"next": next, "error": f"Enter a usable user id: this one {wrong}."},
                      status=422)
    request.session["user"] = user
    request.session["sid"] = start_sign_in(database_url=config.database_url, user=user)
    request.session["groups"] = [config.lead_group] if role == "lead" else []
    request.session["properties"] = {k: v.strip() for k, v in (("department", department), ("location", location))
                                     if v.strip()}
    landing = _local(next)
    return RedirectResponse(landing if role == "lead" or landing != "/plans" else "/pilot", status_code=303)


@router.post("/logout", dependencies=[Depends(verify_csrf)])
def logout(request: Request):
    """Signing out ends the sign-in on the server too: a copy of the cookie made before is void."""
    session_id = request.session.get("sid")
    if session_id:
        end_sign_in(database_url=get_settings(request).database_url, session_id=session_id)
    for name in ("user", "sid", "groups", "properties"):
        request.session.pop(name, None)
    return RedirectResponse("/login" if get_settings(request).dev_login else "/", status_code=303)
