"""DynamoDB Streams: each new message moves both members' group rows to it (pattern E); each edit or delete of a
message refreshes them (the preview, a fallback when the newest message is deleted, the unread count).

Every record of the batch is processed; the response lists the records to deliver again (partial batch
response, ``ReportBatchItemFailures``). See ``cruddur_messaging.domain.move_group_rows`` for the guarantees.
"""
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.typing import LambdaContext

from cruddur_messaging.containers import Container
from cruddur_messaging.domain.move_group_rows import BatchMoves
from cruddur_messaging.observability import logger, metrics, tracer

container = Container()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    moves = BatchMoves(container.group_row_store, container.read_state_store, event.get("Records") or [])
    # A processor keeps one batch's results, hence one per invocation. A batch whose every record failed is
    # answered like any other (all listed) rather than raised: Lambda retries from its first record either way,
    # and the invocation is not counted as a function error.
    processor = BatchProcessor(event_type=EventType.DynamoDBStreams, raise_on_entire_batch_failure=False)
    return process_partial_response(event=event, record_handler=moves.handle, processor=processor, context=context)
