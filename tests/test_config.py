"""Config: precedence, profiles, the 0600 file written atomically, a corrupt file named."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from piapi_cli.api.errors import ConfigError, ExitCode, UsageError
from piapi_cli.core import settings as config


def env(tmp: Path, **extra: str) -> dict[str, str]:
    return {"PIAPI_CONFIG_DIR": str(tmp / "cfg"), **extra}


def test_defaults_without_a_file(tmp_path: Path) -> None:
    resolved = config.resolve(environ=env(tmp_path))
    assert resolved["api_key"] is None and resolved["base_url"] == "https://api.piapi.ai"
    assert resolved.sources["base_url"] == "default" and resolved.profile == "default"


def test_flag_beats_env_beats_file_beats_default(tmp_path: Path) -> None:
    environ = env(tmp_path)
    config.set_value("base_url", "https://file.example", profile="default", environ=environ)
    config.set_value("max_poll_interval", "20", profile="default", environ=environ)
    assert config.resolve(environ=environ)["base_url"] == "https://file.example"
    with_env = env(tmp_path, PIAPI_BASE_URL="https://env.example", PIAPI_MAX_POLL_INTERVAL="5")
    resolved = config.resolve(environ=with_env)
    assert (resolved["base_url"], resolved.sources["base_url"]) == ("https://env.example", "env PIAPI_BASE_URL")
    assert resolved["max_poll_interval"] == 5.0
    flagged = config.resolve({"base_url": "https://flag.example"}, environ=with_env)
    assert (flagged["base_url"], flagged.sources["base_url"]) == ("https://flag.example", "flag")
    assert config.resolve(environ=environ)["max_poll_interval"] == 20.0


def test_profiles_are_chosen_by_flag_or_env(tmp_path: Path) -> None:
    environ = env(tmp_path)
    config.set_value("api_key", "default-key-0000", profile="default", environ=environ)
    config.set_value("api_key", "work-key-11111111", profile="work", environ=environ)
    assert config.resolve(environ=environ)["api_key"] == "default-key-0000"
    assert config.resolve(profile="work", environ=environ)["api_key"] == "work-key-11111111"
    assert config.resolve(environ={**environ, "PIAPI_PROFILE": "work"})["api_key"] == "work-key-11111111"
    with pytest.raises(ConfigError, match="no profile 'home'.*profiles: default, work"):
        config.resolve(profile="home", environ=environ)


def test_file_is_owner_only_and_replaced_atomically(tmp_path: Path) -> None:
    environ = env(tmp_path)
    path = config.set_value("api_key", "secret-key-123456", profile="default", environ=environ)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    first_inode = path.stat().st_ino
    config.set_value("base_url", "https://x.example", profile="default", environ=environ)
    assert path.stat().st_ino != first_inode  # a new file renamed over the old one
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["config.toml"]  # no temp files left
    config.set_value("base_url", None, profile="default", environ=environ)
    assert "base_url" not in path.read_text()


def test_corrupt_file_is_a_config_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "cfg" / "config.toml"
    path.parent.mkdir()
    path.write_text("api_key = [unclosed")
    with pytest.raises(ConfigError) as caught:
        config.resolve(environ=env(tmp_path))
    assert str(path) in caught.value.message and caught.value.exit_code == ExitCode.AUTH


def test_profiles_must_be_tables(tmp_path: Path) -> None:
    path = tmp_path / "cfg" / "config.toml"
    path.parent.mkdir()
    path.write_text('profiles = "oops"\n')
    with pytest.raises(ConfigError, match=r"\[profiles\]"):
        config.resolve(environ=env(tmp_path))


def test_bad_values_are_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="must be public or private"):
        config.set_value("service_mode", "free", profile="default", environ=env(tmp_path))
    with pytest.raises(UsageError, match="unknown setting"):
        config.set_value("colour", "blue", profile="default", environ=env(tmp_path))
    with pytest.raises(ConfigError, match="PIAPI_MAX_POLL_INTERVAL"):
        config.resolve(environ=env(tmp_path, PIAPI_MAX_POLL_INTERVAL="soon"))


def test_mask_shows_only_the_last_four() -> None:
    assert config.mask("pk-0123456789abcdef") == "****cdef"
    assert config.mask("short") == "****" and config.mask(None) == "(not set)"


@pytest.mark.parametrize("bad", ["notaurl", "ftp://host", "http://"])
def test_addresses_must_be_http_urls_from_any_source(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ConfigError, match="is not an http:// or https:// URL"):
        config.resolve({"base_url": bad}, environ=env(tmp_path))
    with pytest.raises(ConfigError, match="PIAPI_UPLOAD_URL"):
        config.resolve(environ=env(tmp_path, PIAPI_UPLOAD_URL=bad))
    with pytest.raises(UsageError):
        config.set_value("base_url", bad, profile="default", environ=env(tmp_path))
    assert config.resolve({"base_url": "http://127.0.0.1:8787/"}, environ=env(tmp_path))["base_url"] == (
        "http://127.0.0.1:8787"
    )
