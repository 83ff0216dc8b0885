"""GET /api/sync: what changed for the caller since a token - conversations and messages - in bounded pages
(docs/http-api.md, "Sync")."""
from dataclasses import asdict

from cruddur_messaging.containers import SyncContainer
from cruddur_messaging.domain.sync import sync
from cruddur_messaging.errors import ErrorCode
from cruddur_messaging.http.api import HttpRequest, HttpResponse, http_handler, json_response
from cruddur_messaging.http.contract import CALLER_ERRORS, SERVICE_ERRORS, Link, Operation, Parameter, operation
from cruddur_messaging.models import SyncPage
from cruddur_messaging.pagination import MAX_CURSOR_LENGTH

container = SyncContainer()


@operation(Operation(
    success=SyncPage,
    parameters=(Parameter("since", "query", {"type": "string", "minLength": 1, "maxLength": MAX_CURSOR_LENGTH},
                          "The `since` of your last sync's answer; leave it out for a token of now (both lists "
                          "empty)."),),
    errors=CALLER_ERRORS + (ErrorCode.INVALID_SINCE, ErrorCode.RELOAD_REQUIRED) + SERVICE_ERRORS,
    links=(Link("SyncOnFromHere", "get_sync", {"since": "$response.body#/since"}),)))
def get_sync(request: HttpRequest) -> HttpResponse:
    """What changed since your last sync: conversations and messages, a bounded page at a time.

    `conversations` are your list items whose row changed (a new message, a read marker), as `GET
    /api/message_groups` has them, with their `version`; `messages` are the messages created since, oldest first,
    each as `GET /api/messages/{message_group_uuid}` lists it plus its `message_group_uuid`. While `complete` is
    false more is waiting: call again with the returned `since`. An item may come again in a later sync: keep the
    higher `version` of a conversation, and drop messages you have by `uuid`. A 410 `reload_required` (a token
    too old to serve) or a 400 `invalid_since`: reload the list and the open conversation, then sync without
    `since`.
    """
    caller = container.callers.resolve(request.caller_sub)
    page = sync(container.row_version_reads, container.cursor_codec, caller, request.query.get("since"))
    return json_response(asdict(page))


ROUTES = {"GET /api/sync": get_sync}


lambda_handler = http_handler(ROUTES)
