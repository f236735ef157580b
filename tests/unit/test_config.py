import pytest

from registry import config


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u:p@h/db", "postgresql+psycopg2://u:p@h/db"),
        ("postgres://u@h:5433/db", "postgresql+psycopg2://u@h:5433/db"),
        ("postgresql+psycopg2://h/db", "postgresql+psycopg2://h/db"),
        ("sqlite:////tmp/x.db", "sqlite:////tmp/x.db"),
    ],
)
def test_postgres_urls_are_pinned_to_psycopg2(url, expected):
    assert config.normalise_database_url(url) == expected


def test_a_server_database_needs_a_secret_key(tmp_path):
    with pytest.raises(config.ConfigError, match="MODELGATE_SECRET_KEY"):
        config.load({"MODELGATE_DATABASE_URL": "postgresql://h/db"}, workdir=tmp_path)


def test_the_embedded_default_keeps_its_generated_key(tmp_path):
    first = config.load({}, workdir=tmp_path)
    second = config.load({}, workdir=tmp_path)
    assert first["EMBEDDED"] is True
    assert first["DATABASE_URL"] == f"sqlite:///{tmp_path / 'modelgate.db'}"
    assert first["SECRET_KEY"] == second["SECRET_KEY"]
    assert (tmp_path / "modelgate.secret").stat().st_mode & 0o777 == 0o600


def test_typed_values_are_parsed_and_errors_name_the_variable(tmp_path):
    loaded = config.load({"MODELGATE_DB_POOL_SIZE": "12"}, workdir=tmp_path)
    assert loaded["DB_POOL_SIZE"] == 12
    with pytest.raises(config.ConfigError, match="MODELGATE_DB_POOL_SIZE"):
        config.load({"MODELGATE_DB_POOL_SIZE": "many"}, workdir=tmp_path)


def test_a_numeric_secret_stays_a_string(tmp_path):
    digits = "12345678901234567890123456789012"
    loaded = config.load({"MODELGATE_BOOTSTRAP_TOKEN": digits}, workdir=tmp_path)
    assert loaded["BOOTSTRAP_TOKEN"] == digits


def test_oidc_settings_are_checked(tmp_path):
    with pytest.raises(config.ConfigError, match="OIDC_AUDIENCE"):
        config.load({"MODELGATE_OIDC_ISSUER": "https://idp"}, workdir=tmp_path)
    with pytest.raises(config.ConfigError, match="asymmetric"):
        config.load({"MODELGATE_OIDC_ALGORITHMS": "RS256,HS256"}, workdir=tmp_path)
    with pytest.raises(config.ConfigError, match="32 characters"):
        config.load({"MODELGATE_BOOTSTRAP_TOKEN": "a-sixteen-chars!"}, workdir=tmp_path)
    with pytest.raises(config.ConfigError, match="32 characters"):
        config.load({"MODELGATE_BOOTSTRAP_TOKEN": "x" * 31}, workdir=tmp_path)
    with pytest.raises(config.ConfigError, match="OIDC_CLIENT_ID needs"):
        config.load({"MODELGATE_OIDC_CLIENT_ID": "console"}, workdir=tmp_path)


def test_console_settings_parse(tmp_path):
    loaded = config.load(
        {"MODELGATE_CONSOLE_SECURE_COOKIES": "true", "MODELGATE_CONSOLE_SESSION_HOURS": "2"},
        workdir=tmp_path,
    )
    assert loaded["CONSOLE_SECURE_COOKIES"] is True
    assert loaded["CONSOLE_SESSION_HOURS"] == 2
    with pytest.raises(config.ConfigError, match="CONSOLE_SESSION_HOURS"):
        config.load({"MODELGATE_CONSOLE_SESSION_HOURS": "0"}, workdir=tmp_path)


def test_overrides_win_over_the_environment(tmp_path):
    loaded = config.load({"MODELGATE_DB_POOL_SIZE": "12"}, {"DB_POOL_SIZE": 3}, workdir=tmp_path)
    assert loaded["DB_POOL_SIZE"] == 3


def test_a_malformed_database_url_is_a_config_error(tmp_path):
    with pytest.raises(config.ConfigError, match="DATABASE_URL"):
        config.load({"MODELGATE_DATABASE_URL": "not a url"}, workdir=tmp_path)


def test_a_key_file_others_may_read_is_refused(tmp_path):
    config.load({}, workdir=tmp_path)
    (tmp_path / "modelgate.secret").chmod(0o644)
    with pytest.raises(config.ConfigError, match="may be read by others"):
        config.load({}, workdir=tmp_path)


def test_an_empty_rate_limit_turns_the_limit_off_and_an_unset_one_is_the_default(tmp_path):
    assert config.load({"MODELGATE_RATE_LIMIT": ""}, workdir=tmp_path)["RATE_LIMIT"] == ""
    assert config.load({}, workdir=tmp_path)["RATE_LIMIT"] == "6000 per minute"
