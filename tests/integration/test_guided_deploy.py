"""``sam deploy --guided`` as a first-time user runs it: Enter on every question with a default.

SAM CLI's guided flow asks "<Function> has no authentication. Is this okay? [y/N]" for every function with an Api or
HttpApi event that has no ``Auth`` of its own and whose API has none, and Enter (no) aborts the deploy with
"Security Constraints Not Satisfied!" (samcli/commands/deploy/guided_context.py, ``prompt_authorization``; the
check is samcli/commands/deploy/auth_utils.py). Every route here is on MessagingHttpApi, whose ``Auth`` (the
default JWT authorizer) that check counts for all of them, and UsersShortFunction, public on purpose, says so on its
route (``Auth: Authorizer: NONE``): without both, Enter aborts at UsersShortFunction. This runs the real guided flow
up to its first AWS call, pointed at a closed local port, so nothing leaves the machine.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

from devtools.template import REPO_ROOT

SAM = Path(sys.executable).with_name("sam")


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_pressing_enter_through_the_guided_deploy_reaches_aws(tmp_path: Path) -> None:
    for name in ("template.yaml", "samconfig.toml"):
        shutil.copy(REPO_ROOT / name, tmp_path / name)
    environment = {
        "PATH": os.environ["PATH"], "HOME": str(tmp_path), "SAM_CLI_TELEMETRY": "0",
        "__SAM_CLI_APP_DIR": str(tmp_path / ".aws-sam-cli"), "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{closed_port()}",
    }
    # The stack name and region as offered, the two pool parameters (no default), then Enter for everything else.
    answers = "\n\nus-east-1_AbCdEf123\nclient-id\n" + "\n" * 80
    result = subprocess.run([str(SAM), "deploy", "--guided", "--template-file", "template.yaml"], cwd=tmp_path,
                            input=answers, env=environment, capture_output=True, text=True, timeout=240)
    output = result.stdout + result.stderr
    assert "has no authentication" not in output and "Security Constraints Not Satisfied" not in output, output
    assert "Stack Name [cruddur-messaging]" in output, output
    # Every question was answered: the flow went on to look for (here, fail to reach) the deployment bucket's stack.
    assert "Looking for resources needed for deployment" in output, output
    assert result.returncode != 0 and "127.0.0.1" in output, output
