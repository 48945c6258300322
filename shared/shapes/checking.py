"""How a shape's field is checked and described: by one of the project's rules, under limits.

A field's check is one of the rules in shared/ (parse_amount, validate_account_number, ...),
so the errors keep the `type` and message those rules give: a DomainError becomes a
PydanticCustomError carrying them, and shared.shapes.validating turns that back. Limits
(ATM_MAX_AMOUNT, ATM_MAX_BATCH) are read from the validation context when a request is
checked, and from LimitedSchema's limits when the OpenAPI document is built.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, Protocol

from pydantic import BaseModel, GetCoreSchemaHandler, ValidationInfo, model_validator
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import PydanticCustomError, PydanticUseDefault, core_schema

from shared.errors import VALIDATION_ERRORS, DomainError
from shared.timestamps import parse_moment

JsonSchema = dict[str, Any]
_JSON_SCHEMA = "atm_json_schema"  # the key of a field's JSON schema in its core schema's metadata
MAX_QUERY_INT = 2**63 - 1  # the largest integer a database column or OFFSET takes


class Limits(Protocol):
    """What request checks take from the settings (Settings has these attributes)."""

    max_amount_cents: int
    max_batch: int
    webhook_allow_private: bool


@dataclass(frozen=True)
class StaticLimits:
    """Limits given outright, where there is no Settings object (the batch file reader)."""

    max_amount_cents: int
    max_batch: int = 65_536
    webhook_allow_private: bool = False


def rule_error(error_type: str, message: str) -> PydanticCustomError:
    """An error as pydantic carries it: the API's `type`, and the message taken as it is.

    A message may quote the client's input; a lone surrogate in it (an unpaired \\ud800
    escape) is written as that escape here, as the envelope writes it, since pydantic's
    strings must be UTF-8.
    """
    readable = message.encode("utf-8", "backslashreplace").decode()
    return PydanticCustomError(error_type, "{message}", {"message": readable})


def limits_of(info: ValidationInfo) -> Limits:
    return info.context  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Checked:
    """`Annotated[T, Checked(check, schema)]`: a field whose value is `check(value, info)`.

    `schema` is its JSON schema, or a function of the limits that returns it.
    """

    check: Callable[[Any, ValidationInfo], Any]
    schema: JsonSchema | Callable[[Limits], JsonSchema]

    def __get_pydantic_core_schema__(
        self, source: object, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.with_info_plain_validator_function(
            self._validate, metadata={_JSON_SCHEMA: self.schema}
        )

    def _validate(self, value: object, info: ValidationInfo) -> object:
        try:
            return self.check(value, info)
        except DomainError as error:
            if error.type not in VALIDATION_ERRORS:
                raise
            raise rule_error(error.type, error.message) from None


@dataclass(frozen=True)
class Counted:
    """`Annotated[list[Item], Counted(...)]`: a list of 1 to `maximum(limits)` items, else
    an `error_type` error; its items are then checked one by one."""

    error_type: str
    maximum: Callable[[Limits], int]
    noun: str

    def __get_pydantic_core_schema__(
        self, source: object, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.with_info_before_validator_function(
            self._validate, handler(source), metadata={_JSON_SCHEMA: self.schema}
        )

    def _validate(self, value: object, info: ValidationInfo) -> object:
        if not isinstance(value, list):
            raise rule_error(self.error_type, f"{info.field_name} must be a list")
        maximum = self.maximum(limits_of(info))
        if not 1 <= len(value) <= maximum:
            message = f"a {self.noun} holds 1 to {maximum} {info.field_name}"
            raise rule_error(self.error_type, message)
        return value

    def schema(self, limits: Limits) -> JsonSchema:
        return {"minItems": 1, "maxItems": self.maximum(limits)}


class Shape(BaseModel):
    """A request body or query string. A required field left out is checked as null, so
    that it gets its own rule's error (an absent amount is `invalid_amount`)."""

    # The error for a body (or a batch's item) that is not an object at all.
    not_an_object: ClassVar[tuple[str, str]] = ("invalid_json", "the body must be a JSON object")
    required_fields: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        cls.required_fields = frozenset(
            field.alias or name for name, field in cls.model_fields.items() if field.is_required()
        )

    @model_validator(mode="before")
    @classmethod
    def _absent_is_null(cls, data: object) -> object:
        if not isinstance(data, dict):
            raise rule_error(*cls.not_an_object)
        if cls.required_fields <= data.keys():
            return data
        return {**dict.fromkeys(cls.required_fields), **data}


def choice(choices: Sequence[str], error_type: str) -> Checked:
    """One of `choices`; otherwise "<field> must be one of ..."."""

    def check(value: object, info: ValidationInfo) -> str:
        if value not in choices:
            message = f"{info.field_name} must be one of {', '.join(choices)}"
            raise rule_error(error_type, message)
        return str(value)

    return Checked(check, {"type": "string", "enum": list(choices)})


def query_int(minimum: int, maximum: int | None = None) -> Checked:
    """An integer query parameter (empty: its default); above `maximum` it is clamped.

    Plain ASCII digits only (not Arabic-Indic digits, "1_0" or " 1 ", which int() would
    take), and no larger than a 64-bit database integer; anything else is a 400.
    """

    def check(raw: str, info: ValidationInfo) -> int:
        name = info.field_name
        if raw == "":
            raise PydanticUseDefault
        if not (raw.isascii() and raw.isdigit()):
            message = f"{name} must be a whole number written in digits 0-9"
            raise rule_error("invalid_parameter", message)
        value = int(raw) if len(raw.lstrip("0")) <= 19 else MAX_QUERY_INT + 1
        if value > MAX_QUERY_INT:
            raise rule_error("invalid_parameter", f"{name} must be at most {MAX_QUERY_INT}")
        if value < minimum:
            raise rule_error("invalid_parameter", f"{name} must be at least {minimum}")
        return min(value, maximum) if maximum is not None else value

    return Checked(check, {"type": "integer", "minimum": minimum})


class LimitedSchema(GenerateJsonSchema):
    """The JSON schema of shapes under given limits: each Checked or Counted field's own."""

    limits: ClassVar[Limits]

    @classmethod
    def under(cls, limits: Limits) -> type[LimitedSchema]:
        return type("LimitedSchema", (cls,), {"limits": limits})

    def field_title_should_be_set(self, schema: object) -> bool:
        return False  # "Account Number" above account_number says nothing more

    def default_schema(self, schema: core_schema.WithDefaultSchema) -> JsonSchemaValue:
        if "default" in schema and schema["default"] is None:
            return self.generate_inner(schema["schema"])  # left out: absent, not null
        return super().default_schema(schema)

    def function_plain_schema(
        self, schema: core_schema.PlainValidatorFunctionSchema
    ) -> JsonSchemaValue:
        own = self._own(schema)
        return own if own is not None else super().function_plain_schema(schema)

    def function_before_schema(
        self, schema: core_schema.BeforeValidatorFunctionSchema
    ) -> JsonSchemaValue:
        return {**super().function_before_schema(schema), **(self._own(schema) or {})}

    def _own(self, schema: core_schema.CoreSchema) -> JsonSchema | None:
        own = (schema.get("metadata") or {}).get(_JSON_SCHEMA)
        # A copy: the generator adds to what it is given (a default, a description).
        return own(self.limits) if callable(own) else copy.deepcopy(own)


def query_moment(name: str, *, required: bool = True) -> Checked:
    """A date-time query parameter named `name` (RFC 3339, with an offset, not later than
    now), as an aware UTC datetime. Absent or empty: a 400 naming it when required, else
    its default."""

    def check(raw: str | None, info: ValidationInfo) -> datetime:
        if raw is None or raw == "":
            if not required:
                raise PydanticUseDefault
            raise rule_error("invalid_parameter", f"{name} is required")
        moment = parse_moment(raw)
        if moment is None:
            message = (
                f"{name} must be an RFC 3339 date-time with an offset, such as 2026-12-04T09:30:00Z"
            )
            if " " in raw:  # a "+" sent unencoded in a URL arrives as a space
                message += " (in a URL, write a + offset as %2B)"
            raise rule_error("invalid_parameter", message)
        if moment > datetime.now(UTC):
            raise rule_error("invalid_parameter", f"{name} must not be later than now")
        return moment

    return Checked(check, {"type": "string", "format": "date-time"})
