"""One module per use case; handlers call these and only shape the HTTP response."""
