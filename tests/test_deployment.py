"""Dockerfile and docker-compose.yml, checked without a container engine.

No engine runs here, so what can be checked is checked against the code: the
services the deployment needs, the commands (real ``flov7`` subcommands), every
environment variable (a real setting, and no secret inline), the env files (their
templates exist and load as valid settings), the ports (the settings' defaults), and
the image (non-root, a health check, the two entry points).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from flov7.cli import build_parser
from flov7.config import Flov7Settings, load_settings
from flov7.settings_reference import settings_variables

ROOT = Path(__file__).resolve().parents[1]
FLOV7_SERVICES = ("api", "worker-1", "worker-2")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def secret_variables() -> set[str]:
    return {
        variable
        for variable, (_, _, field) in settings_variables().items()
        if "SecretStr" in str(field.annotation)
        or variable in ("FLOV7_CREDENTIALS", "FLOV7_DATABASES")
    }


def env_file_keys(path: Path) -> dict[str, str]:
    pairs = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            pairs[key.strip()] = value.strip()
    return pairs


def test_the_services_of_a_production_deployment(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {
        "temporal-db",
        "temporal",
        "temporal-ui",
        "store-db",
        *FLOV7_SERVICES,
    }
    assert services["temporal"]["environment"]["DB"].startswith("postgres")
    assert services["temporal"]["environment"]["POSTGRES_SEEDS"] == "temporal-db"
    assert services["temporal-ui"]["environment"]["TEMPORAL_ADDRESS"] == "temporal:7233"
    assert services["api"]["command"] == ["serve"]
    assert services["api"]["environment"]["START_TEMPORAL_WORKER"] == "false"
    for worker in ("worker-1", "worker-2"):
        assert services[worker]["command"] == ["worker"]
    # The commands are the CLI's own (the same ones the suite runs).
    for service in FLOV7_SERVICES:
        build_parser().parse_args(services[service]["command"])


def test_flov7_environment_names_real_settings_and_no_secret_inline(
    compose: dict[str, Any],
) -> None:
    known = settings_variables()
    secrets = secret_variables()
    assert {"FLOV7_API_KEYS", "FLOV7_DATABASE_URL", "FLOV7_ENCRYPTION_KEYS"} <= secrets
    for name in FLOV7_SERVICES:
        service = compose["services"][name]
        environment = service["environment"]
        assert set(environment) <= set(known), f"{name}: unknown variables"
        assert not set(environment) & secrets, f"{name}: a secret inline"
        host = environment["TEMPORAL_HOST"]
        assert host.partition(":")[0] in compose["services"]
        assert service["env_file"] == ["deploy/flov7.env"]
    # The databases' passwords are in env files too.
    for name in ("temporal-db", "temporal", "store-db"):
        environment = compose["services"][name].get("environment", {})
        assert not any("PASSWORD" in key or "PWD" in key for key in environment)


@pytest.mark.parametrize("name", ["flov7", "temporal-db", "store-db"])
def test_env_file_templates_exist_and_hold_real_settings(name: str, clean_env: Path) -> None:
    template = ROOT / "deploy" / f"{name}.env.example"
    keys = env_file_keys(template)
    assert keys
    if name == "flov7":
        assert set(keys) <= set(settings_variables())
        load_settings(env_file=template)  # valid as it is (blanks count as unset)


def test_ports_are_the_settings_defaults(compose: dict[str, Any]) -> None:
    defaults = Flov7Settings.from_values()
    services = compose["services"]
    assert services["api"]["ports"] == [f"{defaults.api_port}:{defaults.api_port}"]
    assert services["api"]["environment"]["FLOV7_API_PORT"] == str(defaults.api_port)
    worker = services["worker-1"]
    assert worker["environment"]["FLOV7_METRICS_PORT"] == str(defaults.metrics_port)
    assert str(defaults.metrics_port) in worker["expose"]
    assert worker["environment"]["FLOV7_TEMPORAL_METRICS_PORT"] in worker["expose"]
    assert f":{defaults.metrics_port}/metrics" in " ".join(worker["healthcheck"]["test"])
    assert services["temporal-ui"]["environment"]["TEMPORAL_CODEC_ENDPOINT"].endswith(
        f":{defaults.api_port}/api/v1/codec"
    )


def test_the_image_runs_flov7_as_a_non_root_user_with_a_health_check() -> None:
    text = (ROOT / "Dockerfile").read_text()
    final_stage = text[text.rindex("\nFROM ") :]
    assert re.search(r"^FROM python:3\.\d+-slim", final_stage.strip(), re.MULTILINE)
    user = re.search(r"^USER (\S+)", final_stage, re.MULTILINE)
    assert user is not None and user.group(1) not in ("root", "0")
    assert 'ENTRYPOINT ["flov7"]' in final_stage
    assert 'CMD ["serve"]' in final_stage
    assert "HEALTHCHECK" in final_stage and "/health" in final_stage
    exposed = re.search(r"^EXPOSE (.+)$", final_stage, re.MULTILINE)
    assert exposed is not None
    defaults = Flov7Settings.from_values()
    assert {str(defaults.api_port), str(defaults.metrics_port)} <= set(exposed.group(1).split())
    env_names = set(re.findall(r"\b((?:FLOV7|TEMPORAL)_[A-Z_]+)=", final_stage))
    assert env_names and env_names <= set(settings_variables())
    assert not env_names & secret_variables()
