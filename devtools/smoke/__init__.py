"""``make smoke``: a black-box end-to-end check of a running stack, from its outputs only (docs/local-stack.md).

``target`` finds the stack (the local stack's ``stack.json``, or a CloudFormation stack's outputs and parameters)
and its three test users; ``clients`` signs in and talks HTTP and WebSocket as the frontend does; ``checks`` walks
a conversation through the API; ``users`` makes and removes the run's own users (``SMOKE_CREATE_USERS=1``);
``runner`` prints one PASS/FAIL/SKIP line per check and exits non-zero when any check did not pass.
"""
