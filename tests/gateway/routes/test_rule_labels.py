"""Rule labels and annotations over HTTP: stored, patched, versioned, previewed; 422s naming `labels.<name>`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.gateway.app import create_app
from tests.gateway.conftest import ADMIN, create_rule, is_problem, settings_for

LABELS = {"team": "sre", "service": "api"}
ANNOTATIONS = {"summary": "{{ rule_name }} on {{ payload.host }}", "runbook_url": "https://runbooks/cpu"}


@pytest.fixture
def tight(tmp_path: Path) -> Iterator[TestClient]:
    """A gateway whose label limits are set low (CEP_RULE_MAX_LABELS, ...)."""
    limits = {
        "rule_max_labels": 2,
        "rule_max_label_name": 8,
        "rule_max_label_value": 5,
        "rule_max_annotations": 1,
        "rule_max_annotation": 20,
    }
    with TestClient(create_app(settings_for(tmp_path, **limits))) as test_client:
        yield test_client


def _locs(response: Any) -> list[list[Any]]:
    return [e["loc"] for e in is_problem(response, 422)["errors"]]


def test_labels_and_annotations_are_stored_patched_and_versioned(client: TestClient) -> None:
    rule = create_rule(client, ADMIN, labels=LABELS, annotations=ANNOTATIONS)
    assert (rule["labels"], rule["annotations"]) == (LABELS, ANNOTATIONS)
    path = f"/cep/rules/{rule['rule_id']}"
    assert client.get(path, headers=ADMIN).json()["labels"] == LABELS
    # JSON merge patch: a new label added, one removed with null, the annotations untouched.
    patched = client.patch(path, headers=ADMIN, json={"labels": {"env": "prod", "service": None}})
    assert patched.status_code == 200, patched.text
    assert patched.json()["labels"] == {"team": "sre", "env": "prod"}
    assert patched.json()["annotations"] == ANNOTATIONS
    versions = client.get(f"{path}/versions", headers=ADMIN).json()["items"]
    assert [(v["version"], v["rule"]["labels"]) for v in versions] == [(2, {"team": "sre", "env": "prod"}), (1, LABELS)]
    replaced = client.put(path, headers=ADMIN, json={k: v for k, v in rule.items() if k not in ("labels", "version")})
    assert replaced.status_code == 200 and replaced.json()["labels"] == {}  # a replacement without labels has none


@pytest.mark.parametrize(
    ("fields", "loc"),
    [
        ({"labels": {"bad-name": "x"}}, ["labels", "bad-name"]),
        ({"labels": {"__reserved": "x"}}, ["labels", "__reserved"]),
        ({"labels": {"team": 1}}, ["labels", "team"]),
        ({"annotations": {"summary": "{{ oops"}}, ["annotations", "summary"]),
        ({"annotations": {"loop": "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"}},
         ["annotations", "loop"]),
    ],
)  # fmt: skip
def test_bad_labels_and_annotations_are_422_naming_them(
    client: TestClient, fields: dict[str, Any], loc: list[str]
) -> None:
    assert _locs(client.post("/cep/rules", headers=ADMIN, json={**_body(), **fields})) == [loc]


def test_an_undefined_variable_in_an_annotation_is_no_save_error(client: TestClient) -> None:
    rule = create_rule(client, ADMIN, annotations={"who": "{{ payload.owner.name }}"})
    assert rule["annotations"] == {"who": "{{ payload.owner.name }}"}


def test_patch_and_form_refuse_a_bad_label_too(client: TestClient) -> None:
    rule = create_rule(client, ADMIN)
    patch = client.patch(f"/cep/rules/{rule['rule_id']}", headers=ADMIN, json={"labels": {"x y": "1"}})
    assert _locs(patch) == [["labels", "x y"]]
    form = {"name": "f", "trigger_type": "event", "trigger": {"event_type": "e"}, "annotations": {"s": "{% if %}"}}
    assert _locs(client.post("/cep/rules/form", headers=ADMIN, json=form)) == [["annotations", "s"]]


def test_limits_are_settings_and_name_the_label(tight: TestClient) -> None:
    too_many = {"labels": {"a": "1", "b": "2", "c": "3"}}
    assert _locs(tight.post("/cep/rules", headers=ADMIN, json={**_body(), **too_many})) == [["labels"]]
    long_value = {"labels": {"team": "platform"}, "annotations": {"s": "x" * 21}}
    locs = _locs(tight.post("/cep/rules", headers=ADMIN, json={**_body(), **long_value}))
    assert locs == [["labels", "team"], ["annotations", "s"]]
    assert tight.post("/cep/rules", headers=ADMIN, json={**_body(), "labels": {"a": "12345"}}).status_code == 201


def test_the_form_and_its_preview_take_the_editor_rows(tight: TestClient) -> None:
    form = {
        "name": "f",
        "trigger_type": "event",
        "trigger": {"event_type": "e"},
        "labels": [{"name": "team", "value": "sre"}, {"name": "", "value": ""}],
    }
    shown = tight.post("/cep/rules/preview", headers=ADMIN, json=form).json()
    assert shown["errors"] == [] and shown["rule"]["labels"] == {"team": "sre"}
    over = tight.post("/cep/rules/preview", headers=ADMIN, json={**form, "labels": {"team": "platform"}}).json()
    assert [e["loc"] for e in over["errors"]] == [["labels", "team"]]
    saved = tight.post("/cep/rules/form", headers=ADMIN, json=form)
    assert saved.status_code == 201 and saved.json()["labels"] == {"team": "sre"}


def test_openapi_describes_labels_annotations_and_the_label_filter(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    schemas = document["components"]["schemas"]
    assert {"labels", "annotations"} <= set(schemas["StoredRule"]["properties"])
    assert {"labels", "annotations"} <= set(schemas["EventRecord"]["properties"])
    parameters = document["paths"]["/cep/events"]["get"]["parameters"]
    assert "label" in [p["name"] for p in parameters]


def _body() -> dict[str, Any]:
    return {"name": "r", "trigger_type": "event", "trigger_spec": {"event_type": "error"}}
