"""The Prometheus alert rules in deploy/k8s: valid, shipped in both overlays, and each
firing on what it is for (promtool's unit tests in livevote.rules.test.yml)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from tests.deploy.test_manifests import K8S, OVERLAYS, of_kind, render, tool

HERE = Path(__file__).resolve().parent
RULES = K8S / "base" / "monitoring" / "livevote.rules.yml"


def promtool(*args: str, cwd: Path = HERE) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(tool("promtool")), *args], cwd=cwd, capture_output=True, text=True, check=False
    )


def test_the_rules_are_valid_prometheus_rules() -> None:
    checked = promtool("check", "rules", str(RULES))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_each_rule_fires_on_what_it_is_for_and_not_on_a_blip() -> None:
    tested = promtool("test", "rules", "livevote.rules.test.yml")
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_dead_letters_outbox_lag_and_a_down_service_are_alerted() -> None:
    alerts = {
        rule["alert"]
        for group in yaml.safe_load(RULES.read_text())["groups"]
        for rule in group["rules"]
    }
    assert {"LivevoteDeadLetters", "LivevoteOutboxLag", "LivevoteServiceDown"} <= alerts


def test_both_overlays_ship_the_rules_under_a_fixed_name() -> None:
    for overlay in OVERLAYS:
        config_maps = of_kind(render(overlay), "ConfigMap")
        assert "livevote-alert-rules" in config_maps, overlay
        shipped = config_maps["livevote-alert-rules"]["data"]["livevote.rules.yml"]
        assert shipped == RULES.read_text(), overlay
