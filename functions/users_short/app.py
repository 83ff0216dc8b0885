"""GET /api/users/{handle}/short: a user's public card; no token needed (the frontend sends ``@handle``)."""
from dataclasses import asdict
from urllib.parse import unquote


from cruddur_messaging.containers import ApiContainer
from cruddur_messaging.domain.users_short import CARD_MAX_AGE_SECONDS
from cruddur_messaging.http.api import HttpRequest, HttpResponse, http_handler, json_response
from cruddur_messaging.http.contract import (
    CACHE_CONTROL_HEADER, HANDLE_SCHEMA, SERVICE_ERRORS, Operation, Parameter, operation,
)
from cruddur_messaging.errors import ErrorCode
from cruddur_messaging.models import UserShort

container = ApiContainer()


@operation(Operation(
    success=UserShort, success_headers=(CACHE_CONTROL_HEADER,),
    parameters=(Parameter("handle", "path", HANDLE_SCHEMA, "The user's handle, with or without a leading `@`.",
                          required=True),),
    errors=(ErrorCode.INVALID_HANDLE, ErrorCode.USER_NOT_FOUND) + SERVICE_ERRORS))
def get_user_short(request: HttpRequest) -> HttpResponse:
    """A user's public card; no token needed.

    Cards change rarely: `Cache-Control` lets clients and caches keep one for a short while.
    """
    return json_response(asdict(container.user_cards.find(unquote(request.path_parameter("handle")))),
                         headers={"Cache-Control": f"public, max-age={CARD_MAX_AGE_SECONDS}"})


ROUTES = {"GET /api/users/{handle}/short": get_user_short}


lambda_handler = http_handler(ROUTES)
