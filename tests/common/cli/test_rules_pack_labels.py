"""Rule packs keep a rule's labels and annotations, and leave them out while empty."""

from __future__ import annotations

from services.common.cli.rules_pack import export_pack, load_pack, plan

RULE = {"name": "errors", "trigger_type": "event", "trigger_spec": {"event_type": "error"}}


def test_labels_and_annotations_survive_export_and_load() -> None:
    rule = {**RULE, "labels": {"team": "sre"}, "annotations": {"summary": "{{ rule_name }}"}}
    text = export_pack([rule])
    assert "team: sre" in text
    (spec,) = load_pack(text)
    assert spec.labels == {"team": "sre"} and spec.annotations == {"summary": "{{ rule_name }}"}


def test_empty_labels_are_left_out_and_a_label_change_is_an_update() -> None:
    text = export_pack([RULE])
    assert "labels" not in text and "annotations" not in text
    stored = {**RULE, "rule_id": "r1", "version": 1}
    (change,) = plan(load_pack(text.replace("rules:\n", "rules:\n", 1)), [stored])
    assert change.step == "unchanged"
    (spec,) = load_pack(export_pack([{**RULE, "labels": {"team": "db"}}]))
    (change,) = plan([spec], [stored])
    assert change.step == "update" and change.fields == {"labels.team": (None, "db")}
