"""RFC 9457 problem+json responses for every error the API returns."""

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from mailbridge.config_api.error_log import log_unexpected
from mailbridge.config_api.errors import (
    ApiError,
    FieldProblem,
    ServiceUnavailable,
    UnsupportedMediaType,
    ValidationFailed,
)
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_JSON = "application/problem+json"
_LOCATION_PREFIXES = ("body", "query", "path", "header")


class FieldProblemOut(BaseModel):
    field: str
    rule: str
    message: str


class Problem(BaseModel):
    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[FieldProblemOut] = []
    blocking_ids: list[str] = []


def problem_response(
    status: int, title: str, detail: str, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    body = Problem(title=title, status=status, detail=detail, **extra)
    return JSONResponse(body.model_dump(), status_code=status, media_type=PROBLEM_JSON, headers=headers)


def field_problems(errors: list[ErrorDetails] | Any, root: str = "body") -> list[FieldProblem]:
    """Pydantic errors → one FieldProblem each; a custom error type is the requirement id. An
    error about the validated value as a whole is named `root`."""
    problems = []
    for error in errors:
        loc = [str(part) for part in error["loc"]]
        if loc and loc[0] in _LOCATION_PREFIXES and len(loc) > 1:
            loc = loc[1:]
        problems.append(FieldProblem(".".join(loc) or root, error["type"], error["msg"]))
    return problems


def as_validation_failed(error: ValidationError, root: str = "body") -> ValidationFailed:
    return ValidationFailed(field_problems(error.errors(), root))


def api_error_response(exc: ApiError) -> JSONResponse:
    """The problem for a domain error, also for the request guard, which answers outside routes."""
    extra: dict[str, Any] = {}
    if isinstance(exc, ValidationFailed):
        extra["errors"] = [FieldProblemOut(**vars(p)) for p in exc.problems]
    blocking = getattr(exc, "blocking_ids", None)
    if blocking:
        extra["blocking_ids"] = blocking
    if isinstance(exc, ServiceUnavailable):
        extra["headers"] = {"Retry-After": str(exc.retry_after_s)}
    return problem_response(exc.status, exc.title, exc.detail, **extra)


def _api_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return api_error_response(exc)


def _request_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    unsupported = not_json(request.headers.get("content-type"), exc.errors())
    if unsupported is not None:
        return _api_error(request, unsupported)
    return _api_error(request, ValidationFailed(field_problems(exc.errors())))


def is_json(media_type: str) -> bool:
    return media_type == "application/json" or media_type.endswith("+json")


def not_json(content_type: str | None, errors: Sequence[Any]) -> UnsupportedMediaType | None:
    """A JSON body sent as another media type (or with none) is never read as JSON (FastAPI is
    strict), so its model sees no object at all: that is a 415 with a hint, not a 422."""
    media_type = (content_type or "").partition(";")[0].strip().lower()
    if is_json(media_type) or not any(tuple(error["loc"]) == ("body",) for error in errors):
        return None
    sent = f"sent as {media_type!r}" if media_type else "sent without a Content-Type"
    return UnsupportedMediaType(
        f"the body was {sent}: send it as JSON, with the header Content-Type: application/json"
    )


def _model_validation(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ValidationError)
    return _api_error(_, as_validation_failed(exc))


def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    titles = {404: "Not found", 405: "Method not allowed", 413: "Content too large"}
    title = titles.get(exc.status_code, "HTTP error")
    return problem_response(exc.status_code, title, str(exc.detail))


def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    log_unexpected(exc)
    return problem_response(500, "Internal error", "an unexpected error occurred; it was logged")


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(Exception, _unexpected)
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(ValidationError, _model_validation)
    app.add_exception_handler(StarletteHTTPException, _http_error)


def problem_docs(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries: these statuses answer with a Problem."""
    return {status: {"model": Problem, "content": {PROBLEM_JSON: {}}} for status in statuses}


PROBLEM_RESPONSES = problem_docs(401, 403, 404, 409, 412, 413, 415, 422)
