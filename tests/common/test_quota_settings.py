"""The platform's quota defaults: one `CEP_QUOTA_<FIELD>` per TenantQuotas field, read alike by every service."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.common.domain.quotas.tenant_quotas import TenantQuotas, setting_name
from services.common.settings import ServiceSettings
from services.gateway.settings import GatewaySettings


def test_every_quota_has_a_setting_and_the_built_in_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (*TenantQuotas.model_fields, "ingest_rate", "ingest_burst"):
        monkeypatch.delenv(setting_name(name), raising=False)
        monkeypatch.delenv(f"CEP_{name.upper()}", raising=False)
    assert ServiceSettings().quota_defaults == TenantQuotas()
    assert GatewaySettings().quota_defaults == TenantQuotas()


def test_the_environment_sets_each_default_for_every_service(monkeypatch: pytest.MonkeyPatch) -> None:
    values = {
        "rules": "12",
        "series_per_rule": "34",
        "series_per_tenant": "56",
        "polling_targets": "7",
        "sse_streams": "8",
        "ingest_rate": "9.5",
        "ingest_burst": "10",
        "silences": "11",
        "inhibit_rules": "12",
    }
    assert set(values) == set(TenantQuotas.model_fields)
    for name, value in values.items():
        monkeypatch.setenv(setting_name(name), value)
    expected = TenantQuotas.model_validate({k: float(v) if "." in v else int(v) for k, v in values.items()})
    assert ServiceSettings().quota_defaults == expected
    assert GatewaySettings().quota_defaults == expected


def test_a_bad_default_stops_the_service_naming_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CEP_QUOTA_RULES", "0")
    with pytest.raises(ValidationError, match="quota_rules"):
        ServiceSettings()


def test_the_old_ingest_variables_are_aliases_of_the_ingest_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ingest_rate", "ingest_burst"):
        monkeypatch.delenv(setting_name(name), raising=False)
    monkeypatch.setenv("CEP_INGEST_RATE", "100")
    monkeypatch.setenv("CEP_INGEST_BURST", "300")
    quotas = ServiceSettings().quota_defaults
    assert (quotas.ingest_rate, quotas.ingest_burst) == (100.0, 300)
    monkeypatch.setenv("CEP_QUOTA_INGEST_RATE", "200")  # the new name wins where both are set
    assert ServiceSettings().quota_defaults.ingest_rate == 200.0
    assert GatewaySettings(ingest_rate=0).quota_defaults.ingest_rate == 200.0
    monkeypatch.delenv("CEP_QUOTA_INGEST_RATE")
    assert GatewaySettings(ingest_rate=0).quota_defaults.ingest_rate == 0.0  # 0: no limit, as before
