"""Developer tooling (not deployed): template reader, in-process function runner, local stack, scripts."""
