"""An event's labels follow the contract's precedence: rule fields, then rule labels, then group key values."""

from services.common.domain.labels.event_labels import event_labels, label_name, label_value


def _labels(**overrides):
    args = {
        "rule_name": "cpu_high",
        "severity": "high",
        "priority": "P2",
        "rule_labels": {"team": "sre"},
        "group_by": ["host"],
        "group_values": ["gt-01"],
    }
    args.update(overrides)
    return event_labels(**args)


def test_rule_fields_then_rule_labels_then_group_values():
    assert _labels() == {"severity": "high", "priority": "P2", "alertname": "cpu_high", "team": "sre", "host": "gt-01"}


def test_rule_labels_override_the_rule_fields_and_group_values_override_both():
    labels = _labels(rule_labels={"severity": "page", "host": "from-rule"}, group_values=["gt-02"])
    assert labels["severity"] == "page"
    assert labels["host"] == "gt-02"


def test_without_group_by_or_labels_only_the_rule_fields():
    assert _labels(rule_labels=None, group_by=None, group_values=None) == {
        "severity": "high",
        "priority": "P2",
        "alertname": "cpu_high",
    }


def test_group_paths_become_valid_label_names_and_values_text():
    assert label_name("meta.host") == "meta_host"
    assert label_name("1st-zone") == "_1st_zone"
    assert label_value(3) == "3"
    assert label_value({"b": 1, "a": [1, 2]}) == '{"a":[1,2],"b":1}'
    assert _labels(group_by=["meta.host", "port"], group_values=["h", 8080])["meta_host"] == "h"


def test_empty_values_are_dropped_as_alertmanager_drops_them():
    assert "team" not in _labels(rule_labels={"team": ""})
    assert "host" not in _labels(group_values=[""])
