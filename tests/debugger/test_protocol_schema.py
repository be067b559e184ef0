"""The committed JSON schema is generated from ``tensorpeek.agent.protocol`` and is up to date."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema

from tensorpeek.agent import protocol
from tensorpeek.agent.schema import json_schema, schema_text


def test_committed_schema_matches_protocol(repo_root: Path) -> None:
    committed = (repo_root / "docs" / "snapshot.schema.json").read_text(encoding="utf-8")
    assert committed == schema_text(), (
        "docs/snapshot.schema.json is stale: run "
        "`.venv/bin/python -m tensorpeek.agent.schema docs/snapshot.schema.json`"
    )


def test_schema_is_a_valid_json_schema_covering_every_method() -> None:
    schema = json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert set(schema["x-methods"]) == set(protocol.RESULT_TYPES)
    assert schema["x-protocol-version"] == protocol.PROTOCOL_VERSION


def test_schema_required_keys_follow_the_typeddicts() -> None:
    defs = json_schema()["$defs"]
    assert defs["Snapshot"]["required"] == sorted(
        ["version", "hit", "tensors", "layers", "breakpoints", "truncated"]
    )
    assert "notes" in defs["Snapshot"]["properties"]
    assert defs["HeatmapPayload"]["properties"]["mean"] == {
        "type": "array",
        "items": {"type": "array", "items": {"type": ["number", "null"]}},
    }


def test_an_error_reply_validates_and_a_reply_without_ok_does_not() -> None:
    schema = json_schema()
    jsonschema.validate({"version": 1, "ok": False, "error": {"message": "x"}}, schema)
    bad = json.loads('{"version": 1, "result": {}}')
    try:
        jsonschema.validate(bad, schema)
    except jsonschema.ValidationError as err:
        assert "'ok' is a required property" in err.message
    else:
        raise AssertionError("a reply without 'ok' validated")
