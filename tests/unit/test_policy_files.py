"""Policy files: every shipped file loads, and every kind of mistake names its file and line."""

from pathlib import Path

import pytest

from registry.domain import policy_files
from registry.domain.policy import PolicyError
from registry.domain.principal import Role
from registry.domain.stages import Stage

ROOT = Path(__file__).resolve().parents[2]


def parse(text: str):
    return policy_files.parse(text.encode(), "p.yaml")


@pytest.mark.parametrize(
    "path", ["policies", "policies/examples/open.yaml", "policies/examples/strict.yaml"]
)
def test_the_shipped_policies_load(path):
    loaded = policy_files.load(ROOT / path)
    assert loaded.policies
    assert len(loaded.digest) == 64


def test_the_default_set_says_what_the_issue_asks():
    loaded = policy_files.load(ROOT / "policies")
    staging = loaded.for_transition("any", Stage.NONE, Stage.STAGING)
    production = loaded.for_transition("any", Stage.STAGING, Stage.PRODUCTION)
    assert staging.min_approvals == 1
    assert (
        production.min_approvals,
        production.forbid_self_approval,
        production.archive_existing_versions,
    ) == (2, True, True)
    assert production.approver_roles == frozenset({Role.APPROVER})


def test_a_directory_loads_its_own_yaml_files_not_sub_directories():
    loaded = policy_files.load(ROOT / "policies")
    assert all("examples" not in f for f in loaded.files)


def test_a_full_policy_parses():
    [p] = parse("""
policies:
  - name: prod
    stage: Production
    from: [Staging]
    models: "fraud-*"
    min_approvals: 2
    approver_roles: [approver, admin]
    forbid_self_approval: true
    archive_existing_versions: true
    exclusive: true
    expire_after: 36h
    gates:
      required_tags: {validation: passed, owner: null, tier: [gold, silver]}
      require_description: true
      metrics: ["metric.auc >= 0.9"]
      source_schemes: [s3, gs]
    freeze:
      - {name: weekend, days: [sat, sun], timezone: Europe/Paris}
      - {name: nights, days: [mon], from: "22:00", until: "06:00"}
      - {name: xmas, from: 2026-12-24, until: 2026-12-26}
""")
    assert p.from_stages == frozenset({Stage.STAGING})
    assert p.expire_after.total_seconds() == 36 * 3600
    assert p.required_tags == {"validation": ("passed",), "owner": None, "tier": ("gold", "silver")}
    assert p.metrics[0].key == "metric.auc"
    assert p.metrics[0].threshold == 0.9
    assert [w.name for w in p.freeze] == ["weekend", "nights", "xmas"]
    assert p.source == "p.yaml:3"


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("policies:\n  - name: a\n    stage: Staging\n    min_approvals: [\n", 5, "not valid YAML"),
        (
            "policies:\n  - name: a\n    stage: Staging\n    stage: Production\n",
            4,
            "duplicate key 'stage'",
        ),
        (
            "policies:\n  - name: a\n    stage: Staging\n    min_approval: 1\n",
            2,
            "'min_approval' was unexpected",
        ),
        ("policies:\n  - name: a\n    stage: Live\n", 3, "'Live' is not one of"),
        (
            "policies:\n  - name: a\n    stage: Staging\n    min_approvals: -1\n",
            4,
            "less than the minimum",
        ),
        (
            "policies:\n  - name: a\n    stage: Staging\n    gates:\n      metrics: [auc > high]\n",
            5,
            "not a number",
        ),
        (
            "policies:\n  - name: a\n    stage: Staging\n    gates:\n      metrics: [auc]\n",
            5,
            "must look like",
        ),
        (
            "policies:\n  - name: a\n    stage: Staging\n    expire_after: soon\n",
            4,
            "not a duration",
        ),
        (
            "policies:\n  - name: a\n    stage: Staging\n    freeze:\n"
            "      - {name: f, days: [sat], timezone: Mars/Olympus}\n",
            5,
            "unknown time zone",
        ),
        (
            "policies:\n  - name: a\n    stage: None\n    archive_existing_versions: true\n",
            4,
            "applies only to Staging and Production",
        ),
        ("policies:\n  - name: a\n    stage: Staging\n    from: Staging\n", 4, "into itself"),
        (
            "policies:\n  - name: a\n    stage: Staging\n    freeze:\n"
            "      - {name: f, from: 2026-12-24, until: 2026-12-01}\n",
            5,
            "must be after",
        ),
        (
            "policies:\n  - name: a\n    stage: Staging\n    freeze:\n      - {name: f}\n",
            5,
            "needs 'days'",
        ),
        (
            "policies:\n  - name: a\n    stage: Staging\n    freeze:\n"
            "      - {name: f, days: [sat], from: '10:00'}\n",
            5,
            "both 'from' and 'until'",
        ),
        ("", 1, "empty"),
        ("rules: []\n", 1, "'policies' is a required property"),
    ],
)
def test_mistakes_name_the_file_and_line(text, line, fragment):
    with pytest.raises(PolicyError) as err:
        parse(text)
    message = str(err.value)
    assert message.startswith(f"p.yaml:{line}:"), message
    assert fragment in message, message


def test_clock_times_are_not_read_as_sexagesimal_numbers():
    [p] = parse(
        "policies:\n  - name: a\n    stage: Staging\n    freeze:\n"
        "      - {name: f, days: [fri], from: 18:00, until: 23:00}\n"
    )
    assert p.freeze[0].from_time.hour == 18


def test_names_and_scopes_must_be_unique_across_files(tmp_path):
    (tmp_path / "a.yaml").write_text("policies:\n  - {name: one, stage: Staging}\n")
    (tmp_path / "b.yaml").write_text("policies:\n  - {name: one, stage: Production}\n")
    with pytest.raises(PolicyError, match="already used"):
        policy_files.load(tmp_path)
    (tmp_path / "b.yaml").write_text("policies:\n  - {name: two, stage: Staging}\n")
    with pytest.raises(PolicyError, match="same moves"):
        policy_files.load(tmp_path)


def test_missing_paths_and_empty_directories(tmp_path):
    with pytest.raises(PolicyError, match="no such policy file"):
        policy_files.load(tmp_path / "nope")
    with pytest.raises(PolicyError, match="no policy files"):
        policy_files.load(tmp_path)


def test_equally_specific_overlapping_policies_are_refused(tmp_path):
    (tmp_path / "a.yaml").write_text(
        "policies:\n"
        "  - {name: eu, stage: Production, models: '*-eu'}\n"
        "  - {name: pay, stage: Production, models: 'pa-*'}\n"
    )
    with pytest.raises(PolicyError, match="neither is more specific"):
        policy_files.load(tmp_path)


@pytest.mark.parametrize(
    "pair",
    [
        (
            "{name: a, stage: Production, models: 'fraud-*'}",
            "{name: b, stage: Production, models: 'churn-*'}",
        ),  # cannot overlap
        (
            "{name: a, stage: Production, models: '*'}",
            "{name: b, stage: Production, models: 'fraud-*'}",
        ),  # one is more specific
        (
            "{name: a, stage: Staging, models: '*'}",
            "{name: b, stage: Staging, from: Production, models: '*'}",
        ),  # from breaks the tie
        (
            "{name: a, stage: Staging, from: None, models: '*'}",
            "{name: b, stage: Staging, from: Production, models: '*'}",
        ),  # other source stages
    ],
)
def test_policies_that_cannot_be_confused_load(tmp_path, pair):
    (tmp_path / "p.yaml").write_text(f"policies:\n  - {pair[0]}\n  - {pair[1]}\n")
    assert len(policy_files.load(tmp_path).policies) == 2


def test_until_24_00_closes_the_day():
    [p] = parse(
        "policies:\n  - name: a\n    stage: Staging\n    freeze:\n"
        "      - {name: f, days: [fri], from: '17:00', until: '24:00'}\n"
    )
    import datetime as dt

    window = p.freeze[0]
    assert window.active(dt.datetime(2026, 11, 20, 23, 59, 59, tzinfo=dt.UTC))
    assert not window.active(dt.datetime(2026, 11, 21, 0, 0, tzinfo=dt.UTC))
    assert window.describe() == "fri 17:00-24:00 (UTC)"


def test_only_roles_that_can_approve_may_be_approver_roles():
    with pytest.raises(PolicyError, match="'viewer' is not one of"):
        parse("policies:\n  - {name: a, stage: Staging, approver_roles: [viewer]}\n")


def test_alias_rules_parse_and_are_checked():
    parsed = policy_files.parse_document(
        b"policies: []\naliases:\n"
        b"  - {name: champ, alias: champion, models: 'fraud-*', roles: [approver],"
        b" require_stage: Production}\n",
        "a.yaml",
    )
    rule = parsed.alias_rules[0]
    assert (rule.alias, rule.models, rule.require_stage.value) == (
        "champion",
        "fraud-*",
        "Production",
    )
    assert parsed.alias_rule("fraud-eu", "champion") is rule
    assert parsed.alias_rule("churn", "champion") is None
    with pytest.raises(PolicyError, match="a.yaml:3"):
        policy_files.parse_document(
            b"policies: []\naliases:\n  - {name: x, alias: y, require_stage: None}\n", "a.yaml"
        )


def test_the_default_set_needs_a_second_admin_to_hand_out_approver_or_admin():
    loaded = policy_files.load(ROOT / "policies")
    assert loaded.tokens.second_admin_for_roles == frozenset({Role.APPROVER, Role.ADMIN})
    assert loaded.tokens.source.startswith("policies/default.yaml:")
    # Where no file says so, handing out roles needs no second admin (the open example).
    assert not policy_files.load(ROOT / "policies/examples/open.yaml").tokens.governs(Role)


def test_the_token_rule_is_checked_and_declared_once(tmp_path):
    base = "policies:\n  - {name: p, stage: Staging}\n"
    with pytest.raises(PolicyError, match="p.yaml:4: tokens.second_admin_for_roles.0"):
        policy_files.parse_document(
            (base + "tokens:\n  second_admin_for_roles: [wizard]\n").encode(), "p.yaml"
        )
    (tmp_path / "a.yaml").write_text(base + "tokens: {second_admin_for_roles: [admin]}\n")
    (tmp_path / "b.yaml").write_text("policies: []\ntokens: {second_admin_for_roles: [approver]}\n")
    with pytest.raises(PolicyError, match="'tokens' is declared again"):
        policy_files.load(tmp_path)


def rules(text: str):
    aliases = f"aliases:\n{text}" if text else ""
    return policy_files.parse_document(f"policies: []\n{aliases}".encode(), "a.yaml")


def test_the_default_set_governs_every_alias_and_frees_dev_ones_by_name():
    loaded = policy_files.load(ROOT / "policies")
    for alias in ("champion", "challenger", "prod", "anything"):
        rule = loaded.alias_rule("any-model", alias)
        assert rule is not None, alias
        assert rule.require_stage is Stage.PRODUCTION
        assert rule.roles == frozenset({Role.APPROVER, Role.ADMIN})
    dev = loaded.alias_rule("any-model", "dev-alice")
    assert dev.free
    assert loaded.alias_warnings() == []


def test_freeing_an_alias_is_said_in_so_many_words():
    free = rules("  - {name: dev, alias: 'dev-*', free: true}\n").alias_rules[0]
    assert free.free
    assert free.summary()["free"] is True
    with pytest.raises(PolicyError, match="a.yaml:3: .*free.*roles or require_stage"):
        rules("  - {name: x, alias: 'dev-*', free: true, roles: [admin]}\n")
    with pytest.raises(PolicyError, match="a.yaml:3: .*needs roles, require_stage, or free"):
        rules("  - {name: x, alias: champion}\n")


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ("", ["No alias rule covers every alias of every model"]),
        (
            "  - {name: champ, alias: champion, roles: [approver, admin]}\n",
            ["No alias rule covers every alias of every model"],
        ),
        ("  - {name: all, alias: '*', free: true}\n", ["'all'", "free for any contributor"]),
        (
            "  - {name: all, alias: '*', roles: [contributor, approver]}\n",
            ["'all'", "free for any contributor"],
        ),
        (
            "  - {name: all, alias: '*', require_stage: Production}\n"
            "  - {name: team, alias: '*', models: 'sandbox-*', free: true}\n",
            ["'team'", "'sandbox-*'"],
        ),
    ],
)
def test_a_policy_set_that_leaves_aliases_ungoverned_says_so(text, fragments):
    warnings = rules(text).alias_warnings()
    assert len(warnings) == 1
    for fragment in fragments:
        assert fragment in warnings[0]


def test_open_example_frees_every_alias_and_is_warned_about():
    warnings = policy_files.load(ROOT / "policies/examples/open.yaml").alias_warnings()
    assert any("free for any contributor" in w for w in warnings)
    assert policy_files.load(ROOT / "policies/examples/strict.yaml").alias_warnings() == []
