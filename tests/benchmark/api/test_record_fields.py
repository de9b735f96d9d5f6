"""What a record says about its method: the declared fields, and how records from before them are read."""

from __future__ import annotations

from typing import Any

import pytest

from asebench.api.records import has_placeholder_weights, is_proposed


def record(method: dict[str, Any]) -> Any:
    return {"schema_version": 1, "cell": {"method": "m"}, "status": "ok", "method": method}


@pytest.mark.parametrize(
    ("method", "proposed", "placeholder"),
    [
        ({"family": "paper", "provenance": {"weights": "package"}}, True, False),
        ({"family": "Ours"}, True, False),
        ({"family": "vision", "provenance": {"weights": "random"}}, False, True),
        ({"family": "paper-like", "provenance": {"weights": "randomish"}}, False, False),
        ({"family": "paper", "proposed": False, "placeholder_weights": True}, False, True),
        (
            {"family": "toy", "proposed": True, "placeholder_weights": False, "provenance": {"weights": "random"}},
            True,
            False,
        ),
    ],
)
def test_declared_fields_win_and_older_records_are_read_from_family_and_weights(method, proposed, placeholder) -> None:
    assert (is_proposed(record(method)), has_placeholder_weights(record(method))) == (proposed, placeholder)


def test_a_record_without_a_method_block_declares_nothing() -> None:
    assert not is_proposed({"status": "failed"}) and not has_placeholder_weights({"status": "failed"})  # type: ignore[typeddict-item]
