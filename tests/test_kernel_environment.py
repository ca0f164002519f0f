"""The sidecar's environment: the host's, without credentials, with a few settings of its own."""

from __future__ import annotations

import json
import os

import pytest
from conftest import kill_if_running, start_like_in_production, stdout_text

from smoldepot_jupyter.kernel import KernelExecutor

pytestmark = pytest.mark.timeout(120)

CREDENTIALS = {
    "OPENAI_API_KEY": "sk-test-openai",
    "ANTHROPIC_API_KEY": "sk-test-anthropic",
    "SERVICE_TOKEN": "tok",
    "APP_SECRET": "shh",
    "DB_PASSWORD_PRIMARY": "hunter2",
    "SERVICE_CREDENTIALS": "creds",
    "AWS_ACCESS_KEY_ID": "AKIA",
    "AWS_REGION": "eu-north-1",
    "AZURE_CLIENT_SECRET": "azure",
    "GOOGLE_APPLICATION_CREDENTIALS": "/path/to/key.json",
    "HF_TOKEN": "hf_test",
}
ORDINARY = {"SMOLDEPOT_TEST_ORDINARY": "visible", "KEYBOARD_LAYOUT": "us"}
ALLOWED = {"ALLOWED_SERVICE_TOKEN": "allowed-through"}


@pytest.fixture(scope="module")
def env_executor(sandbox_level, tmp_path_factory):
    """A sidecar started while the host has credentials, ordinary and allow-listed variables."""
    with pytest.MonkeyPatch.context() as mp:
        for name, value in {**CREDENTIALS, **ORDINARY, **ALLOWED}.items():
            mp.setenv(name, value)
        ex = KernelExecutor(
            env_allowlist=list(ALLOWED),
            sandbox=sandbox_level,
            cwd=tmp_path_factory.mktemp("env-cwd"),
        )
        start_like_in_production(ex)
    try:
        yield ex
    finally:
        pid = ex.pid
        ex.shutdown()
        kill_if_running(pid)


def sidecar_environ(ex: KernelExecutor) -> dict[str, str]:
    execution = ex.run("import os, json\nprint(json.dumps(dict(os.environ)))")
    assert execution.error is None, execution.observation()
    return json.loads(stdout_text(execution))


@pytest.mark.parametrize("name", sorted(CREDENTIALS))
def test_credential_like_variables_are_not_passed_to_the_sidecar(env_executor, name):
    # Given the host has the variable set (the fixture set it before starting the sidecar)
    # When model code looks for it
    environ = sidecar_environ(env_executor)

    # Then the sidecar does not have it
    assert name not in environ


def test_model_code_reading_the_hosts_openai_api_key_sees_none(env_executor):
    # Given the host had OPENAI_API_KEY set when the sidecar started
    # When model code reads it
    execution = env_executor.run("import os\nprint(os.environ.get('OPENAI_API_KEY'))")

    # Then it sees nothing
    assert execution.error is None, execution.observation()
    assert stdout_text(execution) == "None\n"
    assert "sk-test-openai" not in execution.observation()


def test_ordinary_variables_are_passed_to_the_sidecar(env_executor):
    # Given ordinary host variables (even one merely starting with KEY)
    environ = sidecar_environ(env_executor)

    # Then the sidecar has them unchanged
    for name, value in ORDINARY.items():
        assert environ.get(name) == value


def test_allowlisted_credential_is_passed_to_the_sidecar(env_executor):
    # Given a credential-like variable named in env_allowlist
    environ = sidecar_environ(env_executor)

    # Then the sidecar has it
    assert environ.get("ALLOWED_SERVICE_TOKEN") == "allowed-through"


def test_jpy_parent_pid_is_the_host_pid_outside_the_sandbox(env_executor):
    # Under process the kernel's parent poller watches this pid, so the kernel dies with the
    # host; in bwrap's pid namespace no host pid exists (bwrap --die-with-parent does that job)
    expected = None if env_executor.sandbox_level == "bwrap" else str(os.getpid())
    assert sidecar_environ(env_executor).get("JPY_PARENT_PID") == expected
