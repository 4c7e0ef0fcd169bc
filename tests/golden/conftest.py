"""Golden-test fixtures: one real FHIR server for the session and one real service per threshold profile.

The servers themselves come from the integration layer (tests/integration/conftest.py and fhir_server.py);
this file only adds what the golden tests need on top: a service started per profile, shared by the session.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import fhir_server  # noqa: F401  (the session FHIR server, reused as is)
from tests.integration.fhir_server import ServiceProcess

HTTP_GOLDEN = Path(__file__).resolve().parent / "test_golden.py"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Only the HTTP golden tests need the FHIR server and service processes; the direct loop is a unit test.
    for item in items:
        if Path(str(item.fspath)).resolve() == HTTP_GOLDEN:
            item.add_marker(pytest.mark.integration)


class ServicesByProfile:
    """Starts `cds-service serve` once per profile on first use; the default profile runs on embedded defaults."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.running: dict[str, ServiceProcess] = {}

    def __call__(self, profile: str) -> ServiceProcess:
        if profile not in self.running:
            folder = self.workdir / profile
            folder.mkdir(parents=True, exist_ok=True)
            config = None
            if profile != "cms-lcd":
                config = folder / "config.toml"
                config.write_text(f'[clinical]\nprofile = "{profile}"\n')
            self.running[profile] = ServiceProcess.start(folder, config_file=config, workers=1, threads=4)
        return self.running[profile]

    def stop(self) -> None:
        for proc in self.running.values():
            proc.stop()


@pytest.fixture(scope="session")
def service_for_profile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServicesByProfile]:
    services = ServicesByProfile(tmp_path_factory.mktemp("golden-services"))
    try:
        yield services
    finally:
        services.stop()
