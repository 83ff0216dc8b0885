"""What the functions share about HTTP: the resolver, error bodies, the caller, pagination headers."""
