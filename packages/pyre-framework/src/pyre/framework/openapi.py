"""The OpenAPI 3.1 document of an app, built from its routes.

Path parameters are described by their converters, query/header/cookie
parameters by their converters and annotations, bodies and return values by
pydantic's JSON Schema.  Models land in ``components/schemas`` and are
referenced from the operations.  Served as JSON at ``App(openapi_url=...)``.
"""

from __future__ import annotations

import inspect
import typing
from typing import TYPE_CHECKING, Any

import pydantic

import pyre.spec

from .convertors import is_model, schema_of
from .params import Parameter
from .routing import PathParameter

if TYPE_CHECKING:
    from .app import App
    from .endpoints import Endpoint

_REF = "#/components/schemas/{model}"

_VALIDATION_ERROR = {
    "description": "Validation Error",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {
                    "detail": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "loc": {
                                    "type": "array",
                                    "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
                                },
                                "msg": {"type": "string"},
                                "type": {"type": "string"},
                            },
                            "required": ["loc", "msg", "type"],
                        },
                    }
                },
            }
        }
    },
}


def build_document(app: App[Any]) -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    paths: dict[str, dict[str, Any]] = {}
    for registration in app.router.registrations:
        endpoint = registration.endpoint
        if not endpoint.include_in_schema:
            continue
        path = "/" + "/".join(
            f"{{{segment.name}}}" if isinstance(segment, PathParameter) else segment
            for segment in registration.segments
        )
        operations = paths.setdefault(path, {})
        for method in registration.methods:
            operations[method.lower()] = _operation(endpoint, schemas)
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": app.title, "version": app.version},
        "paths": paths,
    }
    if schemas:
        document["components"] = {"schemas": schemas}
    return document


def _operation(endpoint: Endpoint, schemas: dict[str, Any]) -> dict[str, Any]:
    operation: dict[str, Any] = {"operationId": endpoint.name}
    doc = inspect.getdoc(endpoint.handler)
    if doc:
        summary, _, description = doc.partition("\n")
        operation["summary"] = summary.strip()
        if description.strip():
            operation["description"] = description.strip()
    if endpoint.blueprint is not None:
        operation["tags"] = [type(endpoint.blueprint).__name__]
    parameters = [
        {"name": segment.name, "in": "path", "required": True, "schema": schema_of(segment.converter)}
        for segment in endpoint.segments
        if isinstance(segment, PathParameter)
    ]
    parameters.extend(
        _parameter(parameter)
        for parameter in endpoint.plan.parameters
        if parameter.source in ("query", "header", "cookie")
    )
    if parameters:
        operation["parameters"] = parameters
    body = endpoint.plan.body
    if body is not None:
        operation["requestBody"] = {
            "required": body.required,
            "content": {"application/json": {"schema": _schema(body.annotation, "validation", schemas)}},
        }
    operation["responses"] = {"200": _success(endpoint, schemas)}
    if any(
        parameter.source in ("query", "header", "cookie", "body") for parameter in endpoint.plan.parameters
    ):
        operation["responses"]["422"] = _VALIDATION_ERROR
    return operation


def _parameter(parameter: Parameter) -> dict[str, Any]:
    assert parameter.converter is not None
    schema = schema_of(parameter.converter)
    if parameter.collection is not None:
        schema = {"type": "array", "items": schema}
    described: dict[str, Any] = {
        "name": parameter.key,
        "in": parameter.source,
        "required": parameter.required,
        "schema": schema,
    }
    if not parameter.required and parameter.default is not None:
        try:
            described["schema"]["default"] = pydantic.TypeAdapter(type(parameter.default)).dump_python(
                parameter.default, mode="json"
            )
        except pydantic.PydanticSchemaGenerationError:
            pass
    return described


def _success(endpoint: Endpoint, schemas: dict[str, Any]) -> dict[str, Any]:
    response: dict[str, Any] = {"description": "Successful Response"}
    try:
        returned = typing.get_type_hints(endpoint.handler, include_extras=True).get("return")
    except Exception:
        returned = None
    if typing.get_origin(returned) is tuple:
        # (body, status) or (body, status, headers): the content is the body's.
        returned = typing.get_args(returned)[0]
    if returned is None or returned is type(None):
        return response
    if returned is str:
        response["content"] = {"text/plain": {"schema": {"type": "string"}}}
        return response
    if isinstance(returned, type) and issubclass(returned, pyre.spec.Response):
        return response
    try:
        schema = _schema(returned, "serialization", schemas)
    except pydantic.PydanticSchemaGenerationError:
        return response
    response["content"] = {"application/json": {"schema": schema}}
    return response


def _schema(annotation: Any, mode: Any, schemas: dict[str, Any]) -> dict[str, Any]:
    """``annotation``'s JSON Schema; the models it names are moved into ``schemas``."""
    schema = pydantic.TypeAdapter(annotation).json_schema(mode=mode, ref_template=_REF)
    schemas.update(schema.pop("$defs", {}))
    if is_model(annotation):
        name = annotation.__name__
        schemas[name] = schema
        return {"$ref": _REF.format(model=name)}
    return schema
