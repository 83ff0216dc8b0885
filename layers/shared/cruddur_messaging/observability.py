"""The Powertools logger, metrics and tracer every function shares (configured by POWERTOOLS_* variables)."""
from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger()
metrics = Metrics()
tracer = Tracer()
