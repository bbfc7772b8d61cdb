"""The OpenAPI 3.1 document of an app, built from its routes.

Path parameters are described by their converters, query/header/cookie
parameters by their converters and annotations, bodies and return values by
pydantic's JSON Schema.  Models land in ``components/schemas`` and are
referenced from the operations.  Served as JSON at ``App(openapi_url=...)``.

The responses of an operation are the ones the framework can know it gives:

- the success status (``status=``, else ``204`` for a handler annotated
  ``-> None``, else ``200``) with the schema of ``response_model=`` or of the
  return annotation;
- ``422`` when a query, header, cookie or body parameter is validated;
- ``404`` when a typed path converter (``{id:int}``) can refuse a segment, for
  then the route does not match;
- each status that the handler or one of its providers (``Depends``) raises
  as ``HTTPException(<a literal status>)`` in its own code, read from its
  source: ``raise HTTPException(401)`` in ``current_user`` documents a ``401``
  for every endpoint that depends on it (a status held in a variable, or raised
  by code they call, is not seen: declare it);
- whatever the endpoint declares with ``responses=``, which overrides the above
  for the same code.

Security schemes are ``App(security_schemes=...)``, plus ``session`` (an
``apiKey`` in the session cookie) when a ``SessionMiddleware`` is among the
app's middleware; an operation requires them when it says so with ``security=``.

``docs_page`` is the ``App(docs_url=...)`` page: Swagger UI rendering the
document.  Its script and stylesheet come from a CDN, pinned to one version so
the page cannot change under the app; an app that must not load from a CDN
serves them itself and passes their URLs (``App(docs_js_url=..., docs_css_url=...)``).
"""

from __future__ import annotations

import ast
import html
import inspect
import json
import textwrap
import typing
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

import pydantic

import pyre.spec

from .convertors import PathConverter, StringConverter, is_model, schema_of
from .params import Parameter, Plan
from .routing import PathParameter

if TYPE_CHECKING:
    from .app import App
    from .endpoints import Endpoint

_REF = "#/components/schemas/{model}"

_NOT_FOUND = {"description": "Not Found"}

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
    components: dict[str, Any] = {}
    if schemas:
        components["schemas"] = schemas
    security_schemes = _security_schemes(app)
    if security_schemes:
        components["securitySchemes"] = security_schemes
    if components:
        document["components"] = components
    return document


def _security_schemes(app: App[Any]) -> dict[str, Any]:
    schemes: dict[str, Any] = {}
    for middleware in app.middleware:
        # Known by its class name and cookie, so the document needs no import of the middleware.
        cookie = getattr(middleware, "cookie_name", None)
        if type(middleware).__name__ == "SessionMiddleware" and isinstance(cookie, str):
            schemes["session"] = {"type": "apiKey", "in": "cookie", "name": cookie}
    schemes.update(app.security_schemes)
    return schemes


def _operation(endpoint: Endpoint, schemas: dict[str, Any]) -> dict[str, Any]:
    declared = endpoint.operation
    operation: dict[str, Any] = {"operationId": endpoint.name}
    summary, description = declared.summary, declared.description
    doc = inspect.getdoc(endpoint.handler)
    if doc and summary is None:
        first, _, rest = doc.partition("\n")
        summary = first.strip()
        if description is None and rest.strip():
            description = rest.strip()
    if summary:
        operation["summary"] = summary
    if description:
        operation["description"] = description
    if declared.tags is not None:
        operation["tags"] = list(declared.tags)
    elif endpoint.blueprint is not None:
        operation["tags"] = [type(endpoint.blueprint).__name__]
    if declared.deprecated:
        operation["deprecated"] = True
    if declared.security is not None:
        operation["security"] = [
            {name: list(scopes) for name, scopes in requirement.items()} for requirement in declared.security
        ]
    parameters = [
        {"name": segment.name, "in": "path", "required": True, "schema": schema_of(segment.converter)}
        for segment in endpoint.segments
        if isinstance(segment, PathParameter)
    ]
    from_request = endpoint.plan.request_parameters()  # the providers' included
    parameters.extend(_parameter(parameter) for parameter in from_request)
    if parameters:
        operation["parameters"] = parameters
    body = endpoint.plan.body
    if body is not None:
        operation["requestBody"] = {
            "required": body.required,
            "content": {"application/json": {"schema": _schema(body.annotation, "validation", schemas)}},
        }
    returned = _returned(endpoint)
    status = endpoint.status or (204 if returned is type(None) else 200)
    responses: dict[str, Any] = {str(status): _success(returned, schemas)}
    if any(_can_refuse(segment) for segment in endpoint.segments):
        responses["404"] = _NOT_FOUND
    if from_request or body is not None:
        responses["422"] = _VALIDATION_ERROR
    for code in sorted(_raised(endpoint)):
        responses.setdefault(str(code), {"description": pyre.spec.REASON_PHRASES.get(code, "")})
    for code, response in declared.responses.items():
        # OpenAPI requires a description; the reason phrase is the one every reader knows.
        responses[str(code)] = {"description": pyre.spec.REASON_PHRASES.get(code, ""), **response}
    operation["responses"] = dict(sorted(responses.items()))
    return operation


def _raised(endpoint: Endpoint) -> set[int]:
    """The statuses the handler and its providers, nested ones included, raise as ``HTTPException``."""
    statuses: set[int] = set()
    seen: set[int] = set()
    pending: list[tuple[Callable[..., Any], Plan]] = [(endpoint.handler, endpoint.plan)]
    while pending:
        function, plan = pending.pop()
        if id(function) not in seen:
            seen.add(id(function))
            statuses |= _raised_in(function)
            pending.extend((provider.call, provider.plan) for provider in plan.providers)
    return statuses


def _raised_in(function: Callable[..., Any]) -> set[int]:
    """The error statuses of each ``raise HTTPException(<int literal>, ...)`` (or ``status=<literal>``)
    in ``function``'s source."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    except (OSError, TypeError, SyntaxError):  # no source (builtins, partials, a REPL), or a lambda's line
        return set()
    statuses: set[int] = set()
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call)):
            continue
        called = node.exc.func
        name = called.id if isinstance(called, ast.Name) else getattr(called, "attr", None)
        given = [*node.exc.args[:1], *(word.value for word in node.exc.keywords if word.arg == "status")]
        for status in given:
            literal = status.value if isinstance(status, ast.Constant) and type(status.value) is int else None
            if name == "HTTPException" and literal is not None and 400 <= literal <= 599:
                statuses.add(literal)
    return statuses


def _can_refuse(segment: object) -> bool:
    """Whether a path segment's converter refuses some segments, the route then answering 404."""
    return isinstance(segment, PathParameter) and not isinstance(
        segment.converter, StringConverter | PathConverter
    )


def _returned(endpoint: Endpoint) -> Any:
    """What the success response's content is described by: ``response_model``, else the return
    annotation (a tuple's first item), ``None`` when there is none; ``type(None)`` for ``-> None``."""
    if endpoint.operation.response_model is not None:
        return endpoint.operation.response_model
    try:
        returned = typing.get_type_hints(endpoint.handler, include_extras=True).get("return")
    except Exception:
        return None
    if typing.get_origin(returned) is tuple:
        # (body, status) or (body, status, headers): the content is the body's.
        returned = typing.get_args(returned)[0]
    return returned


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


def _success(returned: Any, schemas: dict[str, Any]) -> dict[str, Any]:
    response: dict[str, Any] = {"description": "Successful Response"}
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


# -- the /docs page ------------------------------------------------------------------------------------

SWAGGER_UI_VERSION: Final = "5.17.14"
SWAGGER_UI_JS: Final = (
    f"https://cdn.jsdelivr.net/npm/swagger-ui-dist@{SWAGGER_UI_VERSION}/swagger-ui-bundle.js"
)
SWAGGER_UI_CSS: Final = f"https://cdn.jsdelivr.net/npm/swagger-ui-dist@{SWAGGER_UI_VERSION}/swagger-ui.css"


def docs_page(title: str, openapi_url: str, *, js_url: str, css_url: str) -> str:
    """The HTML page; ``openapi_url`` is the document's URL as the browser reaches it."""
    # In a <script>, "</" could end the element: JSON with "<" escaped is a JavaScript string literal.
    document_url = json.dumps(openapi_url).replace("<", "\\u003c")
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)} - API docs</title>
<link rel="stylesheet" href="{html.escape(css_url)}">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{html.escape(js_url)}"></script>
<script>
window.ui = SwaggerUIBundle({{url: {document_url}, dom_id: "#swagger-ui", deepLinking: true}});
</script>
</body>
</html>
"""


__all__ = [
    "SWAGGER_UI_CSS",
    "SWAGGER_UI_JS",
    "SWAGGER_UI_VERSION",
    "build_document",
    "docs_page",
]
