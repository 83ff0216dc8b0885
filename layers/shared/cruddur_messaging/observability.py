"""The Powertools logger, metrics and tracer every function shares (configured by POWERTOOLS_* variables).

Tracing: Lambda's active tracing records each invocation; the X-Ray SDK (Powertools Tracer) adds a subsegment
per AWS call (botocore, patched here) and per PostgreSQL query (psycopg2, patched by ``data.postgres`` where
it is imported, so the stream function, which never queries PostgreSQL, does not load it). Patching only what
the functions call, instead of every library the SDK knows, keeps a cold start from importing the rest.
The template's ``POWERTOOLS_TRACER_CAPTURE_RESPONSE: "false"`` keeps responses, and so message text, out of traces
(tests/integration/test_private_telemetry.py checks what the Tracer records).
"""
from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger()
metrics = Metrics()
tracer = Tracer(patch_modules=("botocore",))
