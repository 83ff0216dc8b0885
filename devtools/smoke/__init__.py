"""``make smoke``: a black-box end-to-end check of a running stack, from its outputs only (docs/local-stack.md).

``target`` finds the stack (the local stack's ``stack.json``, or a CloudFormation stack's outputs and parameters)
and its three test users; ``checks`` signs them in and walks the API as the frontend does; ``runner`` prints one
PASS/FAIL/SKIP line per check and exits non-zero when any check did not pass.
"""
