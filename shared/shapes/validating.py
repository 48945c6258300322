"""The one way from pydantic's ValidationError to the envelope's error: a DomainError."""

from __future__ import annotations

from typing import TypeVar

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from shared.errors import VALIDATION_ERRORS, DomainError, InvalidBatch, InvalidParameter
from shared.shapes.checking import Limits, Shape

S = TypeVar("S", bound=Shape)
MAX_DETAILS = 100  # enough to fix a file by; a body with more bad items says how many


def validated(shape: type[S], data: object, limits: Limits) -> S:
    """`data` checked as `shape` under `limits`, or the DomainError the API answers with."""
    try:
        return shape.model_validate(data, context=limits)
    except ValidationError as exc:
        raise domain_error(exc) from None


def domain_error(exc: ValidationError) -> DomainError:
    """The request's error: its first bad field's; in a list of items (a batch's
    operations), an InvalidBatch whose details give each bad item's first error."""
    errors = exc.errors(include_url=False, include_input=False)
    per_item: dict[int, ErrorDetails] = {}
    for error in errors:
        index = next((part for part in error["loc"] if isinstance(part, int)), None)
        if index is None:
            return _error(error)
        per_item.setdefault(index, error)
    details = [
        {"index": index, "type": error["type"], "message": error["msg"]}
        for index, error in sorted(per_item.items())
    ]
    shown = details[:MAX_DETAILS]
    more = f" (the first {len(shown)} are listed)" if len(details) > len(shown) else ""
    return InvalidBatch(f"{len(details)} operation(s) are invalid{more}", details=shown)


def _error(error: ErrorDetails) -> DomainError:
    cls = VALIDATION_ERRORS.get(error["type"])
    if cls is None:  # not one of the project's rules: pydantic's own wording, with the field
        field = ".".join(str(part) for part in error["loc"])
        return InvalidParameter(f"{field}: {error['msg']}" if field else error["msg"])
    if cls is InvalidBatch:
        return InvalidBatch(error["msg"], details=[])
    return cls(error["msg"])
