"""Data access: DynamoDB (messages, groups) and PostgreSQL (users), each behind a small interface."""
