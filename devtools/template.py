"""Reads ``template.yaml``: the one definition of the table, the functions, their routes and their stream events.

Tests, the local stack and the operator scripts all build what they need from here, so nothing in them can
drift from what ``sam deploy`` creates. Intrinsic functions are resolved against a ``context`` that maps
parameter and resource logical ids to the local values standing in for them (a table name, a queue ARN...).
"""
from __future__ import annotations

import re
from collections import ChainMap
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

from samcli.yamlhelper import yaml_parse

REPO_ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_PATH = REPO_ROOT / "template.yaml"
TABLE_LOGICAL_ID = "MessagesTable"

_NO_VALUE = object()


@lru_cache(maxsize=4)
def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    return yaml_parse(path.read_text())


def parameter_defaults(template: Mapping[str, Any]) -> dict[str, Any]:
    """Each parameter's default as CloudFormation hands it over: a string, CommaDelimitedList split into a list."""
    defaults: dict[str, Any] = {}
    for name, spec in template.get("Parameters", {}).items():
        if "Default" not in spec:
            continue
        value = spec["Default"]
        if spec.get("Type") == "CommaDelimitedList":
            value = [part for part in str(value).split(",") if part] if value else []
        elif not isinstance(value, str):
            value = str(value)  # CloudFormation hands every other parameter over as a string (Number too)
        defaults[name] = value
    return defaults


class TemplateResolutionError(KeyError):
    """A value of the template that cannot be resolved locally: an intrinsic function :func:`resolve` does not
    implement, or a Ref / attribute nothing stands in for. A KeyError, as a missing lookup always was."""

    def __str__(self) -> str:
        return str(self.args[0])


CONDITION_PREFIX = "Condition:"
"""Conditions are looked up in a resolution context under ``"Condition:<name>"``."""

RESOLVED_FUNCTIONS = ("Ref", "Fn::GetAtt", "Fn::Sub", "Fn::Join", "Fn::If", "Fn::Equals", "Fn::Not", "Fn::Or")


def resolve(value: Any, context: Mapping[str, Any], where: str = "") -> Any:
    """Resolves Ref, Fn::GetAtt, Fn::Sub, Fn::Join, Fn::If and Fn::Equals/Not/Or against ``context``.

    ``context`` maps a parameter or logical id to its value, and ``"Logical.Attribute"`` to an attribute.
    Conditions are looked up under ``"Condition:<name>"`` (``devtools.environment.template_context`` evaluates the
    template's ``Conditions`` there). Any other intrinsic function (``Fn::Select``,
    ``Fn::ImportValue``...), and a Ref or attribute missing from ``context``, raise
    :class:`TemplateResolutionError` naming it and ``where`` it appears (a path such as
    ``Resources.X.Properties.Y``), so nothing unresolved is ever passed through as a literal.
    """
    if isinstance(value, list):
        resolved = [resolve(item, context, f"{where}[{index}]") for index, item in enumerate(value)]
        return [item for item in resolved if item is not _NO_VALUE]
    if not isinstance(value, Mapping):
        return value
    functions = [key for key in value if key == "Ref" or str(key).startswith("Fn::")]
    if functions:
        if len(value) != 1 or functions[0] not in RESOLVED_FUNCTIONS:
            raise TemplateResolutionError(
                f"{where or 'template'}: {', '.join(functions)} is not resolved locally (only "
                f"{', '.join(RESOLVED_FUNCTIONS)}, each alone in its mapping)")
        (key, arg), = value.items()
        return _resolve_function(key, arg, context, f"{where}.{key}" if where else key)
    resolved = {key: resolve(item, context, f"{where}.{key}" if where else str(key)) for key, item in value.items()}
    return {key: item for key, item in resolved.items() if item is not _NO_VALUE}


def _resolve_function(key: str, arg: Any, context: Mapping[str, Any], where: str) -> Any:
    if key == "Ref":
        return _NO_VALUE if arg == "AWS::NoValue" else _look_up(context, arg, where)
    if key == "Fn::GetAtt":
        logical, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
        return _look_up(context, f"{logical}.{attribute}", where)
    if key == "Fn::Sub":
        return _substitute(arg, context, where)
    if key == "Fn::Join":
        separator, items = arg
        return separator.join(str(item) for item in resolve(items, context, where))
    if key == "Fn::If":
        condition, when_true, when_false = arg
        chosen = when_true if _look_up(context, f"{CONDITION_PREFIX}{condition}", where) else when_false
        return resolve(chosen, context, where)
    if key == "Fn::Equals":
        # CloudFormation compares the values as it hands parameters over: as strings (a Number parameter's "0"
        # equals the template's 0).
        left, right = resolve(arg, context, where)
        return str(left) == str(right)
    if key == "Fn::Or":
        return any(resolve(arg, context, where))
    return not resolve(arg[0], context, where)  # Fn::Not


def _look_up(context: Mapping[str, Any], name: str, where: str) -> Any:
    try:
        return context[name]
    except TemplateResolutionError as error:
        raise TemplateResolutionError(f"{where}: {error}") from None
    except KeyError:
        raise TemplateResolutionError(f"{where}: no local value for {name}") from None


def _substitute(arg: Any, context: Mapping[str, Any], where: str) -> str:
    text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], resolve(arg[1], context, where))

    def lookup(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in variables:
            return str(variables[name])
        return str(_look_up(context, name, where))

    return re.sub(r"\$\{([^}!]+)\}", lookup, text)


def table_definition(template: Mapping[str, Any], context: Mapping[str, Any]) -> dict[str, Any]:
    """``create_table`` arguments for the messages table, exactly as the template declares it, named as the
    table's Ref resolves in ``context`` (the template leaves the name to CloudFormation by default)."""
    properties = resolve(template["Resources"][TABLE_LOGICAL_ID]["Properties"], context,
                         f"Resources.{TABLE_LOGICAL_ID}.Properties")
    definition = {"TableName": _look_up(context, TABLE_LOGICAL_ID, f"Resources.{TABLE_LOGICAL_ID}")} | {
        key: properties[key]
        for key in ("AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes", "BillingMode",
                    "StreamSpecification")
        if key in properties
    }
    if "StreamSpecification" in definition:
        definition["StreamSpecification"] = {"StreamEnabled": True, **definition["StreamSpecification"]}
    return definition


def time_to_live_attribute(template: Mapping[str, Any]) -> str | None:
    spec = template["Resources"][TABLE_LOGICAL_ID]["Properties"].get("TimeToLiveSpecification")
    return spec["AttributeName"] if spec and spec.get("Enabled") else None


@dataclass(frozen=True)
class HttpRoute:
    method: str
    path: str
    authorized: bool
    scopes: tuple[str, ...] = ()

    @property
    def route_key(self) -> str:
        """As API Gateway names the route (the event's ``routeKey``): ``"GET /api/message_groups"``."""
        return f"{self.method} {self.path}"


@dataclass(frozen=True)
class StreamEvent:
    """A DynamoDB event source mapping, with every property the template sets (resolved)."""

    name: str
    properties: dict[str, Any]


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    code_dir: Path
    handler_module: str
    handler_function: str
    environment: dict[str, str]
    timeout_seconds: int
    memory_mb: int
    routes: list[HttpRoute] = field(default_factory=list)
    stream_events: list[StreamEvent] = field(default_factory=list)
    # The Lambda runtime identifier (python3.13): Lambda's AWS_EXECUTION_ENV names it.
    runtime: str = "python3.13"


def function_specs(template: Mapping[str, Any], context: Mapping[str, Any]) -> dict[str, FunctionSpec]:
    """Every AWS::Serverless::Function, with Globals merged in as SAM merges them."""
    globals_ = template.get("Globals", {}).get("Function", {})
    specs: dict[str, FunctionSpec] = {}
    for logical_id, resource in template["Resources"].items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        properties = resource["Properties"]
        module, function = properties.get("Handler", globals_.get("Handler")).rsplit(".", 1)
        environment = {
            **globals_.get("Environment", {}).get("Variables", {}),
            **properties.get("Environment", {}).get("Variables", {}),
        }
        routes: list[HttpRoute] = []
        stream_events: list[StreamEvent] = []
        for event_name, event in properties.get("Events", {}).items():
            event_properties = event.get("Properties", {})
            if event["Type"] == "HttpApi":
                auth = event_properties.get("Auth", {})
                routes.append(HttpRoute(event_properties["Method"].upper(), event_properties["Path"],
                                        authorized=auth.get("Authorizer") != "NONE",
                                        scopes=tuple(auth.get("AuthorizationScopes", ()))))
            elif event["Type"] == "DynamoDB":
                stream_events.append(StreamEvent(event_name, resolve(
                    event_properties, context, f"Resources.{logical_id}.Properties.Events.{event_name}.Properties")))
        specs[logical_id] = FunctionSpec(
            logical_id=logical_id,
            code_dir=REPO_ROOT / properties["CodeUri"],
            handler_module=module,
            handler_function=function,
            environment={key: str(value) for key, value in resolve(
                environment, context, f"Resources.{logical_id}.Properties.Environment.Variables").items()},
            timeout_seconds=int(properties.get("Timeout", globals_.get("Timeout", 3))),
            memory_mb=int(properties.get("MemorySize", globals_.get("MemorySize", 128))),
            routes=routes,
            stream_events=stream_events,
            runtime=properties.get("Runtime", globals_["Runtime"]),
        )
    return specs


@dataclass(frozen=True)
class JwtAuthorizerSpec:
    """An HTTP API JWT authorizer: where the token is read from and what its issuer and audience must be."""

    name: str
    identity_source: str
    issuer: str
    audience: list[str]


@dataclass(frozen=True)
class HttpApiSpec:
    logical_id: str
    default_authorizer: JwtAuthorizerSpec | None
    cors: dict[str, Any] | None


def http_api_spec(template: Mapping[str, Any], context: Mapping[str, Any]) -> HttpApiSpec:
    """The template's AWS::Serverless::HttpApi: its default JWT authorizer and CORS configuration, resolved."""
    apis = [(logical_id, resource) for logical_id, resource in template["Resources"].items()
            if resource.get("Type") == "AWS::Serverless::HttpApi"]
    if len(apis) != 1:
        raise ValueError(f"expected one AWS::Serverless::HttpApi in the template, found {len(apis)}")
    logical_id, resource = apis[0]
    properties = resource.get("Properties", {})
    auth = properties.get("Auth", {})
    authorizer = None
    if auth.get("DefaultAuthorizer"):
        name = auth["DefaultAuthorizer"]
        config = auth["Authorizers"][name]
        jwt = resolve(config["JwtConfiguration"], context,
                      f"Resources.{logical_id}.Properties.Auth.Authorizers.{name}.JwtConfiguration")
        authorizer = JwtAuthorizerSpec(
            name=name,
            identity_source=config.get("IdentitySource", "$request.header.Authorization"),
            issuer=jwt["issuer"],
            audience=list(jwt.get("audience", [])),
        )
    cors = properties.get("CorsConfiguration")
    return HttpApiSpec(logical_id=logical_id, default_authorizer=authorizer,
                       cors=resolve(cors, context, f"Resources.{logical_id}.Properties.CorsConfiguration")
                       if cors is not None else None)


@dataclass(frozen=True)
class WebSocketRoute:
    """A route of a WebSocket API: the function its Lambda proxy integration invokes, the authorizer function
    (``$connect`` only) and whether a route response sends the function's body back to the client."""

    route_key: str
    function: str
    authorizer_function: str | None = None
    returns_response: bool = False


@dataclass(frozen=True)
class WebSocketApiSpec:
    logical_id: str
    stage: str
    route_selection_expression: str
    routes: dict[str, WebSocketRoute]


_FUNCTION_IN_URI = re.compile(r":function:([A-Za-z0-9_-]+)")


def websocket_api_spec(template: Mapping[str, Any], context: Mapping[str, Any]) -> WebSocketApiSpec | None:
    """The template's ``AWS::ApiGatewayV2::Api`` with ``ProtocolType: WEBSOCKET``: its stage, and for each route
    the functions behind its integration and authorizer (None when the template has no WebSocket API)."""
    resources = template["Resources"]
    apis = [logical_id for logical_id, resource in resources.items()
            if resource.get("Type") == "AWS::ApiGatewayV2::Api"
            and resource.get("Properties", {}).get("ProtocolType") == "WEBSOCKET"]
    if not apis:
        return None
    if len(apis) > 1:
        raise ValueError(f"expected at most one WebSocket API in the template, found {len(apis)}")
    [api_id] = apis
    # The API's own resources stand for themselves (a Ref to an integration names it); functions come from
    # ``context`` by their ARN. A ChainMap, not a copy: ``context`` may derive its values on first use.
    local = ChainMap({logical_id: logical_id for logical_id, resource in resources.items()
                      if str(resource.get("Type", "")).startswith("AWS::ApiGatewayV2::")}, context)

    def of_api(kind: str) -> dict[str, dict[str, Any]]:
        return {logical_id: resolve(resource.get("Properties", {}), local, f"Resources.{logical_id}.Properties")
                for logical_id, resource in resources.items()
                if resource.get("Type") == f"AWS::ApiGatewayV2::{kind}"
                and resolve(resource.get("Properties", {}).get("ApiId"), local,
                            f"Resources.{logical_id}.Properties.ApiId") == api_id}

    def function_in(uri: str) -> str:
        match = _FUNCTION_IN_URI.search(uri)
        if not match:
            raise ValueError(f"not a Lambda integration URI: {uri!r}")
        return match.group(1)

    integrations = {logical_id: function_in(properties["IntegrationUri"])
                    for logical_id, properties in of_api("Integration").items()}
    authorizers = {logical_id: function_in(properties["AuthorizerUri"])
                   for logical_id, properties in of_api("Authorizer").items()}
    route_responses = {properties["RouteId"] for properties in of_api("RouteResponse").values()}
    routes: dict[str, WebSocketRoute] = {}
    for logical_id, properties in of_api("Route").items():
        integration = properties["Target"].removeprefix("integrations/")
        authorizer = properties.get("AuthorizerId") if properties.get("AuthorizationType") == "CUSTOM" else None
        routes[properties["RouteKey"]] = WebSocketRoute(
            route_key=properties["RouteKey"], function=integrations[integration],
            authorizer_function=authorizers[authorizer] if authorizer else None,
            returns_response=logical_id in route_responses)
    stages = [properties["StageName"] for properties in of_api("Stage").values()]
    selection = resources[api_id]["Properties"].get("RouteSelectionExpression", "$request.body.action")
    return WebSocketApiSpec(logical_id=api_id, stage=stages[0] if stages else "$default",
                            route_selection_expression=resolve(
                                selection, local, f"Resources.{api_id}.Properties.RouteSelectionExpression"),
                            routes=routes)
