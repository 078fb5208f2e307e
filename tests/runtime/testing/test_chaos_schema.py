"""The minimal-instance generator behind structured output, checked with jsonschema."""

from __future__ import annotations

import enum
from typing import Any, Literal

import jsonschema  # type: ignore[import-untyped]
import pydantic
import pytest

from runtime.testing._schema import SchemaError, instance

SCHEMAS: list[dict[str, Any]] = [
    {"type": "string"},
    {"type": "string", "minLength": 12, "maxLength": 12},
    {"type": "string", "maxLength": 2},
    {"type": "string", "format": "date-time"},
    {"type": "integer", "minimum": 5, "maximum": 9},
    {"type": "integer", "exclusiveMinimum": 0},
    {"type": "integer", "minimum": 1, "multipleOf": 7},
    {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
    {"type": "number", "maximum": -3.5},
    {"type": "boolean"},
    {"type": "null"},
    {"type": ["null", "integer"], "minimum": 2},
    {"enum": ["red", "green"]},
    {"const": {"fixed": [1, 2]}},
    {"type": "array", "items": {"type": "integer"}, "minItems": 3, "uniqueItems": True},
    {"type": "array", "items": {"type": "string"}, "minItems": 2, "uniqueItems": True},
    {"type": "array", "prefixItems": [{"type": "string"}, {"type": "boolean"}]},
    {"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": False},
    {
        "type": "object",
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "scores": {"type": "array", "items": {"type": "number"}, "minItems": 1},
            "meta": {
                "type": "object",
                "properties": {"ok": {"type": "boolean"}},
                "required": ["ok"],
            },
        },
        "required": ["id", "scores", "meta"],
    },
    {"anyOf": [{"type": "null"}, {"type": "string", "minLength": 3}]},
    {"oneOf": [{"type": "integer", "minimum": 10}, {"type": "string"}]},
    {
        "allOf": [
            {"properties": {"a": {"type": "integer"}}, "required": ["a"]},
            {"properties": {"b": {"type": "string"}}, "required": ["b"]},
        ]
    },
    {
        "$defs": {
            "Node": {
                "type": "object",
                "properties": {"children": {"type": "array", "items": {"$ref": "#/$defs/Node"}}},
                "required": ["children"],
            }
        },
        "$ref": "#/$defs/Node",
    },
    {"definitions": {"x": {"type": "integer", "minimum": 4}}, "$ref": "#/definitions/x"},
    {
        "$schema": "http://json-schema.org/draft-04/schema#",
        "type": "integer",
        "minimum": 3,
        "exclusiveMinimum": True,
    },
    {},
]


@pytest.mark.parametrize("schema", SCHEMAS)
def test_instance_validates(schema: dict[str, Any]) -> None:
    jsonschema.validate(instance(schema), schema)


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Address(pydantic.BaseModel):
    street: str
    zip_code: str = pydantic.Field(min_length=5, max_length=5)


class Person(pydantic.BaseModel):
    name: str
    age: int = pydantic.Field(ge=0, le=150)
    height: float = pydantic.Field(gt=0)
    colour: Colour
    kind: Literal["human", "robot"]
    addresses: list[Address] = pydantic.Field(min_length=1)
    nickname: str | None = None
    home: Address | None


def test_pydantic_model_schema_round_trips() -> None:
    value = instance(Person.model_json_schema())
    person = Person.model_validate(value)
    assert person.addresses[0].zip_code == "chaos" and person.nickname is None
    assert person.home is not None  # required though nullable: the non-null branch


def test_recursion_without_exit_and_bad_refs_raise() -> None:
    looping = {"$defs": {"A": {"$ref": "#/$defs/A"}}, "$ref": "#/$defs/A"}
    with pytest.raises(SchemaError, match="too deep"):
        instance(looping)
    with pytest.raises(SchemaError, match="local"):
        instance({"$ref": "https://example.com/s.json"})
    with pytest.raises(SchemaError, match="unresolvable"):
        instance({"$ref": "#/$defs/nope"})
