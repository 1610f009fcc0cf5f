"""Config: precedence, profiles, the 0600 file written atomically, a corrupt file named."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import httpx
import pytest

from piapi_cli.api import records
from piapi_cli.api.errors import ConfigError, ExitCode, UsageError
from piapi_cli.cli.hints import hint_for
from piapi_cli.core import settings as config
from piapi_cli.core.settings_store import set_value
from piapi_cli.sandbox import Emulator
from tests.conftest import TEST_KEY, Cli


def env(tmp: Path, **extra: str) -> dict[str, str]:
    return {"PIAPI_CONFIG_DIR": str(tmp / "cfg"), **extra}


def test_defaults_without_a_file(tmp_path: Path) -> None:
    resolved = config.resolve(environ=env(tmp_path))
    assert resolved["api_key"] is None and resolved["base_url"] == "https://api.piapi.ai"
    assert resolved.sources["base_url"] == "default" and resolved.profile == "default"


def test_flag_beats_env_beats_file_beats_default(tmp_path: Path) -> None:
    environ = env(tmp_path)
    set_value("base_url", "https://file.example", profile="default", environ=environ)
    set_value("max_poll_interval", "20", profile="default", environ=environ)
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
    set_value("api_key", "default-key-0000", profile="default", environ=environ)
    set_value("api_key", "work-key-11111111", profile="work", environ=environ)
    assert config.resolve(environ=environ)["api_key"] == "default-key-0000"
    assert config.resolve(profile="work", environ=environ)["api_key"] == "work-key-11111111"
    assert config.resolve(environ={**environ, "PIAPI_PROFILE": "work"})["api_key"] == "work-key-11111111"
    with pytest.raises(ConfigError, match="no profile 'home'.*profiles: default, work"):
        config.resolve(profile="home", environ=environ)


def test_file_is_owner_only_and_replaced_atomically(tmp_path: Path) -> None:
    environ = env(tmp_path)
    path = set_value("api_key", "secret-key-123456", profile="default", environ=environ)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    first_inode = path.stat().st_ino
    set_value("base_url", "https://x.example", profile="default", environ=environ)
    assert path.stat().st_ino != first_inode  # a new file renamed over the old one
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["config.toml"]  # no temp files left
    set_value("base_url", None, profile="default", environ=environ)
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
        set_value("service_mode", "free", profile="default", environ=env(tmp_path))
    with pytest.raises(UsageError, match="unknown setting"):
        set_value("colour", "blue", profile="default", environ=env(tmp_path))
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
        set_value("base_url", bad, profile="default", environ=env(tmp_path))
    assert config.resolve({"base_url": "http://127.0.0.1:8787/"}, environ=env(tmp_path))["base_url"] == (
        "http://127.0.0.1:8787"
    )


# --- typed, validated settings ------------------------------------------------------------


def write_config(tmp: Path, text: str) -> Path:
    path = tmp / "cfg" / "config.toml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    return path


def test_settings_are_a_typed_frozen_object(tmp_path: Path) -> None:
    resolved = config.resolve(environ=env(tmp_path, PIAPI_MAX_POLL_INTERVAL="2.5", PIAPI_SANDBOX="yes"))
    typed = resolved.settings
    assert isinstance(typed, config.Settings)
    assert (typed.max_poll_interval, typed.sandbox, typed.wait_timeout) == (2.5, True, 1800.0)
    assert typed.base_url == resolved["base_url"] and resolved.sources["sandbox"] == "env PIAPI_SANDBOX"
    with pytest.raises(records.FrozenInstanceError):
        typed.api_key = "changed"  # type: ignore[misc]
    # one definition: the record's fields are the settings, defaults included
    assert [f.name for f in records.fields(config.Settings)] == list(config.SETTINGS)
    assert config.Settings() == config.resolve(environ=env(tmp_path)).settings


BAD_SECONDS = ["-1", "nan", "NaN", "inf", "-inf", "1e999", "soon", "5s", ""]


@pytest.mark.parametrize("text", [t for t in BAD_SECONDS if t] + ["0", "0.05"])
def test_a_poll_interval_from_the_environment_is_checked(tmp_path: Path, text: str) -> None:
    with pytest.raises(config.InvalidSetting) as caught:
        config.resolve(environ=env(tmp_path, PIAPI_MAX_POLL_INTERVAL=text))
    error = caught.value
    assert error.exit_code == ExitCode.AUTH and error.setting == "max_poll_interval"
    assert error.origin == "env PIAPI_MAX_POLL_INTERVAL" and repr(text) in error.message


@pytest.mark.parametrize(
    ("toml", "setting", "reason"),
    [
        ("max_poll_interval = 0", "max_poll_interval", "at least 0.1"),
        ("max_poll_interval = -3", "max_poll_interval", "must not be negative"),
        ("max_poll_interval = nan", "max_poll_interval", "finite"),
        ("max_poll_interval = inf", "max_poll_interval", "finite"),
        ("max_poll_interval = true", "max_poll_interval", "not a boolean"),
        ("max_poll_interval = [1]", "max_poll_interval", "not a list"),
        ("wait_timeout = -1.5", "wait_timeout", "must not be negative"),
        ("wait_timeout = -inf", "wait_timeout", "finite"),
        ("wait_timeout = 1e300", "wait_timeout", "at most"),
        ("api_key = 123", "api_key", "must be a string, not an integer"),
        ('api_key = ["pk-1", "pk-2"]', "api_key", "must be a string, not a list"),
        ("api_key = {a = 1}", "api_key", "not a table"),
        ("base_url = 5", "base_url", "must be a string"),
        ("upload_url = []", "upload_url", "must be a string"),
        ('base_url = "http://[::1"', "base_url", "not a valid URL"),
        ("sandbox = 1", "sandbox", "true or false"),
        ('service_mode = "free"', "service_mode", "public or private"),
        ('sandbox_speed = "abc"', "sandbox_speed", "not a number"),
        ("sandbox_speed = 0", "sandbox_speed", "0.001"),
    ],
)
def test_config_file_values_are_checked_naming_the_file_and_profile(
    tmp_path: Path, toml: str, setting: str, reason: str
) -> None:
    path = write_config(tmp_path, f"[profiles.work]\n{toml}\n")
    with pytest.raises(config.InvalidSetting) as caught:
        config.resolve(profile="work", environ=env(tmp_path))
    error = caught.value
    assert error.exit_code == ExitCode.AUTH and error.setting == setting
    assert error.message.startswith(f"{setting} from {path} [profiles.work]: ") and reason in error.message
    assert "--profile work config" in (hint_for(error, None) or "")


def test_flags_and_environment_are_named_when_refused(tmp_path: Path) -> None:
    with pytest.raises(
        config.InvalidSetting, match=r"^base_url from flag: 'http://\[::1' is not a valid URL"
    ) as caught:
        config.resolve({"base_url": "http://[::1"}, environ=env(tmp_path))
    assert hint_for(caught.value, None) == "fix the value of --base-url"
    with pytest.raises(config.InvalidSetting, match=r"^base_url from env PIAPI_BASE_URL: .* is not a valid URL"):
        config.resolve(environ=env(tmp_path, PIAPI_BASE_URL="http://[::1"))
    with pytest.raises(
        config.InvalidSetting, match="^sandbox_speed from env PIAPI_SANDBOX_SPEED: 'abc' is not a number"
    ):
        config.resolve(environ=env(tmp_path, PIAPI_SANDBOX_SPEED="abc"))
    with pytest.raises(config.InvalidSetting, match="^sandbox from env PIAPI_SANDBOX: 'maybe' must be true or false"):
        config.resolve(environ=env(tmp_path, PIAPI_SANDBOX="maybe"))
    assert config.resolve(environ=env(tmp_path, PIAPI_SANDBOX_SPEED="25")).settings.sandbox_speed == 25.0


KEY = "pk-live-0123456789abcdefXYZ"
BAD_KEYS = {
    "a carriage return": KEY + "\r",  # $(cat key) of a file saved with Windows line endings
    "a line break": KEY + "\n" + KEY,
    "whitespace": KEY[:10] + " " + KEY[10:],
    "a tab": "\t" + KEY,
    "a control character": KEY + "\x1b[2J",
    "a non-ASCII letter": KEY.replace("abc", "äbc"),
    "a no-break space": KEY + "\u00a0",
}


def assert_not_shown(key: str, text: str) -> None:
    """No run of 4 characters of the key appears in the text (the mask shows 4)."""
    for start in range(len(key) - 3):
        piece = key[start : start + 4]
        if all(c.isprintable() and not c.isspace() for c in piece):
            assert piece not in text, f"{piece!r} of the key was shown"


@pytest.mark.parametrize("bad", BAD_KEYS.values(), ids=BAD_KEYS.keys())
def test_a_key_with_whitespace_control_or_non_ascii_characters_is_refused_unshown(tmp_path: Path, bad: str) -> None:
    with pytest.raises(config.InvalidSetting) as caught:
        config.resolve(environ=env(tmp_path, PIAPI_API_KEY=bad))
    assert caught.value.exit_code == ExitCode.AUTH and caught.value.origin == "env PIAPI_API_KEY"
    assert_not_shown(bad, f"{caught.value.message} {hint_for(caught.value, None)}")
    path = write_config(tmp_path, f"[profiles.default]\napi_key = {json.dumps(bad)}\n")
    with pytest.raises(config.InvalidSetting) as caught:
        config.resolve(environ=env(tmp_path))
    assert str(path) in caught.value.message
    assert_not_shown(bad, f"{caught.value.message} {hint_for(caught.value, None)}")
    with pytest.raises(UsageError) as refused:
        set_value("api_key", bad, profile="default", environ=env(tmp_path))
    assert_not_shown(bad, refused.value.message)


def test_a_carriage_return_is_explained() -> None:
    with pytest.raises(config.InvalidSetting, match="carriage return.*Windows line endings"):
        config.resolve(environ={"PIAPI_CONFIG_DIR": "/nonexistent", "PIAPI_API_KEY": KEY + "\r"})


def test_webhook_secret_is_a_secret_setting(tmp_path: Path) -> None:
    resolved = config.resolve(environ=env(tmp_path, PIAPI_WEBHOOK_SECRET="hunter2hunter2"))
    assert resolved.settings.webhook_secret == "hunter2hunter2"
    assert resolved.sources["webhook_secret"] == "env PIAPI_WEBHOOK_SECRET"
    assert config.SETTINGS["webhook_secret"].secret and config.resolve(environ=env(tmp_path))["webhook_secret"] is None
    with pytest.raises(config.InvalidSetting) as caught:
        config.resolve(environ=env(tmp_path, PIAPI_WEBHOOK_SECRET="hunter2\r\n"))
    assert "hunter2" not in caught.value.message


def test_lenient_resolution_collects_every_problem(tmp_path: Path) -> None:
    write_config(tmp_path, "[profiles.default]\napi_key = 123\nbase_url = 5\nmax_pol_interval = 3\nwait_timeout = 60\n")
    resolved = config.resolve(environ=env(tmp_path), strict=False)
    assert sorted(resolved.problems) == ["api_key", "base_url"]
    assert resolved["base_url"] == "https://api.piapi.ai" and resolved["wait_timeout"] == 60.0
    assert resolved.unknown == ["max_pol_interval"]


URL_PARTS = ["http://", "https://", "ftp://", "", "[::1", "[::1]", "[zz]", "h", "☃", "xn--", "1.2.3.999", "a b",
             ":80", ":99999", ":x", "/p", "?q", "#f", "@", "%", "\x00", ".", "-", "_", "é", "\t", "[fe80::1%25e]"]  # fmt: skip


def test_fuzzed_urls_are_refused_or_usable(tmp_path: Path) -> None:
    import random

    rng = random.Random(8)
    for _ in range(3000):
        url = "".join(rng.choice(URL_PARTS) for _ in range(rng.randint(1, 5)))
        try:
            value = config.resolve({"base_url": url}, environ=env(tmp_path))["base_url"]
        except config.InvalidSetting as exc:
            assert exc.exit_code == ExitCode.AUTH
            continue
        try:
            # what the API client will do with it
            with httpx.Client(base_url=value, transport=httpx.MockTransport(lambda r: httpx.Response(200))) as client:
                client.build_request("GET", "/api/v1/task/x")
        except httpx.InvalidURL as exc:
            raise AssertionError(f"{url!r} was accepted as {value!r}, which httpx refuses: {exc}") from None


# --- through the command line: refused before anything is sent ---------------------------

FLUX = ["create", "-m", "Qubico/flux1-dev", "-t", "txt2img", "-i", "prompt=a cat"]


class Counting(httpx.BaseTransport):
    """Passes requests on, counting them: a refused setting must send none."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.requests: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.inner.handle_request(request)


@pytest.fixture
def counted(cli: Cli) -> Counting:
    counting = Counting(cli.transport)
    cli.transport = counting
    return counting


def test_a_zero_poll_interval_is_refused_before_any_request(cli: Cli, counted: Counting, emulator: Emulator) -> None:
    # it used to poll ~1,750 times a second, then die of an OverflowError
    task_id = cli(*FLUX).stdout.strip()
    counted.requests.clear()
    for args in (["wait", task_id], [*FLUX, "--wait"], ["--sandbox", *FLUX, "--wait"]):
        result = cli(*args, env={"PIAPI_MAX_POLL_INTERVAL": "0"})
        assert result.exit_code == ExitCode.AUTH, result.stderr
        assert "max_poll_interval from env PIAPI_MAX_POLL_INTERVAL: '0' must be at least 0.1" in result.stderr
        assert "Traceback" not in result.stderr and result.stdout == ""
    assert counted.requests == [] and len(list(emulator.store.all())) == 1  # nothing created, nothing polled
    assert cli.clock.sleeps == []


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("PIAPI_MAX_POLL_INTERVAL", "nan"),
        ("PIAPI_MAX_POLL_INTERVAL", "-2"),
        ("PIAPI_MAX_POLL_INTERVAL", "inf"),
        ("PIAPI_BASE_URL", "http://[::1"),
        ("PIAPI_SANDBOX_SPEED", "abc"),
        ("PIAPI_UPLOAD_URL", "ftp://files"),
    ],
)
def test_a_bad_value_in_the_environment_exits_3_naming_it(
    cli: Cli, counted: Counting, variable: str, value: str
) -> None:
    sandbox = ["--sandbox"] if variable == "PIAPI_SANDBOX_SPEED" else []
    result = cli(*sandbox, *FLUX, env={variable: value})
    assert result.exit_code == ExitCode.AUTH and f"from env {variable}: {value!r}" in result.stderr
    assert len(result.stderr.strip().splitlines()) <= 2 and "internal error" not in result.stderr
    assert counted.requests == []


@pytest.mark.parametrize("bad", BAD_KEYS.values(), ids=BAD_KEYS.keys())
def test_a_bad_key_is_refused_before_anything_is_sent_and_never_shown(
    cli: Cli, counted: Counting, isolated: Path, bad: str
) -> None:
    result = cli(*FLUX, env={"PIAPI_API_KEY": bad})
    assert result.exit_code == ExitCode.AUTH and "api_key from env PIAPI_API_KEY" in result.stderr
    assert_not_shown(bad, result.stdout + result.stderr)
    assert counted.requests == []
    journal = isolated / "data" / "journal.sqlite3"
    assert not journal.exists() or KEY[:12].encode() not in journal.read_bytes()


def test_config_show_lists_invalid_values_without_crashing(cli: Cli, isolated: Path) -> None:
    cli.env.pop("PIAPI_API_KEY")
    path = isolated / "config" / "config.toml"
    path.parent.mkdir()
    path.write_text("[profiles.default]\napi_key = 918273645\nmax_poll_interval = 20\n")
    shown = cli("config", "show")
    assert shown.exit_code == ExitCode.AUTH
    assert "api_key\t(invalid)\tconfig.toml [profiles.default]" in shown.stdout
    assert "max_poll_interval\t20.0\tconfig.toml [profiles.default]" in shown.stdout
    assert f"api_key from {path} [profiles.default]: must be a string, not an integer" in shown.stderr
    assert "918273645" not in shown.stdout + shown.stderr and "internal error" not in shown.stderr

    path.write_text('[profiles.default]\napi_key = ["pk-aaaa-1111", "pk-bbbb"]\nbase_url = 5\nmax_pol_interval = 3\n')
    shown = cli("config", "show", "--json")
    assert shown.exit_code == ExitCode.AUTH and "2 invalid settings: api_key from" in shown.stderr
    doc = shown.json()["settings"]
    assert doc["api_key"] == {
        "value": None,
        "source": "config.toml [profiles.default]",
        "error": "must be a string, not a list",
    }
    assert doc["base_url"]["error"] == "5 must be a string (an http:// or https:// URL), not an integer"
    assert "'max_pol_interval' is no setting" in shown.stderr
    assert "aaaa" not in shown.stdout + shown.stderr
    # a valid file shows as before, exit 0
    path.write_text("[profiles.default]\nmax_poll_interval = 20\n")
    assert cli("config", "show").exit_code == 0


def test_a_secret_setting_is_never_an_argument(cli: Cli, isolated: Path) -> None:
    refused = cli("config", "set", "webhook_secret", "hunter2hunter2")
    assert refused.exit_code == ExitCode.USAGE and "hunter2" not in refused.stdout + refused.stderr
    assert cli("config", "set", "webhook_secret", input="hunter2hunter2\r\n").exit_code == 0  # piped, line end dropped
    shown = cli("config", "show", "--json").json()["settings"]["webhook_secret"]
    assert shown == {"value": "****ter2", "source": "config.toml [profiles.default]"}
    assert 'webhook_secret = "hunter2hunter2"' in (isolated / "config" / "config.toml").read_text()
    assert cli("config", "set", "max_poll_interval").exit_code == ExitCode.USAGE  # no VALUE


def test_set_key_refuses_a_non_ascii_key_without_showing_it(cli: Cli, isolated: Path) -> None:
    result = cli("config", "set-key", input=BAD_KEYS["a non-ASCII letter"] + "\n")
    assert result.exit_code == ExitCode.USAGE and "non-ASCII" in result.stderr
    assert_not_shown(BAD_KEYS["a non-ASCII letter"], result.stdout + result.stderr)
    assert not (isolated / "config" / "config.toml").exists()


def test_session_scrubs_every_secret_setting(cli: Cli) -> None:
    cli("config", "show", env={"PIAPI_WEBHOOK_SECRET": "whsec-0123456789"})
    session = cli.sessions[-1]
    session.settings  # noqa: B018
    assert sorted(session.secrets()) == sorted([TEST_KEY, "whsec-0123456789"])
    # made once, but a secret this run learns later (a webhook secret made by create) is kept too
    session.extra_secrets.append("whsec-made-later-42")
    assert sorted(session.secrets()) == sorted([TEST_KEY, "whsec-0123456789", "whsec-made-later-42"])


def test_sandbox_speed_is_read_from_the_setting(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    import piapi_cli.sandbox

    speeds: list[float] = []
    original = piapi_cli.sandbox.local_emulator

    def recording(directory: Path, speed: float = 1.0) -> Emulator:
        speeds.append(speed)
        return original(directory, speed=speed)

    monkeypatch.setattr(piapi_cli.sandbox, "local_emulator", recording)
    cli.transport = None  # type: ignore[assignment]  # the real in-process sandbox
    result = cli("--sandbox", *FLUX, "--json", env={"PIAPI_SANDBOX_SPEED": "250"})
    assert result.exit_code == 0 and speeds == [250.0]
    cli.env["PIAPI_SANDBOX_SPEED"] = "0"
    assert cli("--sandbox", *FLUX).exit_code == ExitCode.AUTH and speeds == [250.0]


@pytest.mark.parametrize(
    "option", [["--interval", "nan"], ["--interval", "inf"], ["--timeout", "nan"], ["--timeout", "inf"]]
)
def test_wait_flags_are_checked_as_the_settings_are(cli: Cli, counted: Counting, option: list[str]) -> None:
    # typer's range check lets NaN through; `--interval nan` used to wait forever
    for args in (["wait", "0b1c2d3e-0000-4000-8000-000000000000"], [*FLUX, "--wait"]):
        result = cli(*args, *option)
        assert result.exit_code == ExitCode.USAGE and f"{option[1]} must be a finite number" in result.stderr
    assert counted.requests == []


@pytest.mark.parametrize("home", ["/home/ann", "/home/ann/", "relative/home", ""])
@pytest.mark.parametrize("xdg", [None, "", "/srv/xdg", "/srv/xdg/", "relative/xdg"])
def test_the_config_and_data_directories_are_where_platformdirs_puts_them(
    monkeypatch: pytest.MonkeyPatch, home: str, xdg: str | None
) -> None:
    # worked out without importing platformdirs on Linux; they must not drift from its answer
    import platformdirs

    from piapi_cli.core import settings

    for name in ("PIAPI_CONFIG_DIR", "PIAPI_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", home)
    for variable in ("XDG_CONFIG_HOME", "XDG_DATA_HOME"):
        if xdg is None:
            monkeypatch.delenv(variable, raising=False)
        else:
            monkeypatch.setenv(variable, xdg)
    assert settings.config_dir() == Path(platformdirs.user_config_dir("piapi", appauthor=False))
    assert settings.data_dir() == Path(platformdirs.user_data_dir("piapi", appauthor=False))
