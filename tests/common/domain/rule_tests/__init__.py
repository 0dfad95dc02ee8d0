"""Tests of the rule unit test runner (services/common/domain/rule_tests/)."""
