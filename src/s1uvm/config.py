"""Configuration: the Server URL, the API token and the database, from flags > environment >
config file > defaults (design.md). Every mistake becomes a ConfigError with one line that
says what to fix; the token is only ever held as an ApiToken."""

from __future__ import annotations

import ipaddress
import os
import stat
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from s1uvm._errors import UsageError
from s1uvm.connectors import ORDER
from s1uvm.s1 import ApiToken, RetryPolicy, S1Client, TokenError

MAX_URL = 2048  # far beyond any console address; longer is a paste gone wrong
S1_HOST_SUFFIXES = (".sentinelone.net", ".s1gov.net")
NOT_AN_API_HOST = {"console.sentinelone.net", "sentinelone.net", "www.sentinelone.net", "s1gov.net"}


class ConfigError(UsageError):
    """A configuration mistake: exit code 2 and this one line."""


@dataclass(frozen=True, slots=True)
class ConsoleConfig:
    name: str
    url: str
    token: ApiToken
    connectors: tuple[str, ...] = ORDER
    ca_bundle: str | None = None
    # A part of the token's scope to sync (config file only): these sites, or these accounts.
    site_ids: tuple[str, ...] = ()
    account_ids: tuple[str, ...] = ()

    def client(self, attempts: int = 6) -> S1Client:
        """A client for this console: its URL, token and CA bundle, ``attempts`` tries per
        request (a connection test wants few, a sync the patient default)."""
        return S1Client(
            self.url, self.token, ca_bundle=self.ca_bundle, retry=RetryPolicy(attempts=attempts)
        )

    @property
    def scope(self) -> dict[str, str]:
        """The scope filter every request carries: ``siteIds`` or ``accountIds``."""
        if self.site_ids:
            return {"siteIds": ",".join(self.site_ids)}
        if self.account_ids:
            return {"accountIds": ",".join(self.account_ids)}
        return {}

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or ""

    @property
    def is_sentinelone_host(self) -> bool:
        return self.host.endswith(S1_HOST_SUFFIXES) or is_loopback(self.host)


@dataclass(frozen=True, slots=True)
class Settings:
    consoles: tuple[ConsoleConfig, ...]
    db: str
    warnings: tuple[str, ...] = field(default_factory=tuple)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def normalise_url(text: str | None) -> str:
    """``https://host[:port]`` from what a user pastes: whitespace, a trailing slash, an API
    path (``/web/api/v2.1/...``) or a console page path are removed; a bare host gets https."""
    if text is None or not text.strip():
        raise ConfigError(
            "the Server URL is empty: give --url or S1_URL, e.g. "
            "https://usea1-partners.sentinelone.net"
        )
    raw = text.strip()
    if len(raw) > MAX_URL:
        raise ConfigError(
            f"the Server URL is {len(raw):,} characters long; paste just the console "
            "address, e.g. https://usea1-partners.sentinelone.net"
        )
    if any(c.isspace() for c in raw):
        raise ConfigError(f"the Server URL {raw!r} contains spaces; paste just the console address")
    if "://" not in raw:
        raw = "https://" + raw
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError:
        raise ConfigError(f"the Server URL {text.strip()!r} is not a URL") from None
    host = (parts.hostname or "").lower()
    if (
        parts.scheme not in ("http", "https")
        or not host
        or ("." not in host and not is_loopback(host) and host != "localhost")
    ):
        raise ConfigError(
            f"the Server URL {text.strip()!r} is not a console address; expected "
            "https://<tenant>.sentinelone.net"
        )
    if not host.isascii():
        raise ConfigError(
            f"the Server URL host {host!r} has non-ASCII characters; use the "
            "console's address as SentinelOne shows it"
        )
    if len(host) > 253 or any(len(label) > 63 for label in host.split(".")):
        raise ConfigError(
            f"the Server URL host {host[:60]!r}… is not a valid host name (a name is at most "
            "253 characters, each part between dots at most 63); paste the console's address"
        )
    if host in NOT_AN_API_HOST:
        raise ConfigError(
            f"{host} is SentinelOne's login portal, not your console; use your "
            "console's own address, e.g. https://usea1-partners.sentinelone.net"
        )
    if parts.scheme == "http" and not is_loopback(host):
        raise ConfigError(f"the Server URL must use https:// ({host} is not a loopback address)")
    if parts.username or parts.password:
        raise ConfigError("the Server URL must not contain a user name or password")
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc += f":{port}"
    return f"{parts.scheme}://{netloc}"


# A token is about 80 characters; a file far larger than that is not a token file (and
# reading one like /dev/zero whole would never end).
MAX_TOKEN_FILE = 64 * 1024


def read_token_file(path: str | os.PathLike[str], warnings: list[str]) -> ApiToken:
    p = Path(path).expanduser()
    try:
        # Non-blocking: opening a FIFO nobody writes to would otherwise wait forever.
        fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    except FileNotFoundError:
        raise ConfigError(f"token file {p} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"cannot read token file {p}: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError(
                f"token file {p} is not a regular file (a folder, device or pipe); "
                "put the token alone in a file"
            )
        data = os.read(fd, MAX_TOKEN_FILE + 1)
    except OSError as exc:
        raise ConfigError(f"cannot read token file {p}: {exc.strerror}") from None
    finally:
        os.close(fd)
    if len(data) > MAX_TOKEN_FILE:
        raise ConfigError(
            f"token file {p} is larger than {MAX_TOKEN_FILE // 1024} KiB; it should hold "
            "only the API token"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"cannot read token file {p}: it is not UTF-8 text") from None
    if info.st_mode & (stat.S_IRGRP | stat.S_IROTH):
        warnings.append(f"token file {p} is readable by other users; chmod 600 {p}")
    return _token(text, f"token file {p}")


def check_ca_bundle(value: str, what: str) -> None:
    """A CA bundle path that names a readable file (whether it holds certificates is for
    TLS to say, when the client loads it: exit code 4)."""
    p = Path(value).expanduser()
    if p.is_dir():
        raise ConfigError(f"{what} {value} is a folder; give the PEM file of the CA")
    if not p.exists():
        raise ConfigError(f"{what} {value} does not exist")
    if not p.is_file():
        raise ConfigError(f"{what} {value} is not a regular file; give the PEM file of the CA")
    if not os.access(p, os.R_OK):
        raise ConfigError(f"{what} {value} is not readable by this user")


def _token(text: str, where: str) -> ApiToken:
    try:
        return ApiToken(text)
    except TokenError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def default_db() -> str:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return str(Path(base) / "s1uvm" / "s1uvm.db")


def console_name(url: str) -> str:
    """The name a console goes by without a config file: its host, with the port when that
    is not 443 — so two consoles, or two simulators on one machine, never share a name."""
    parts = urlsplit(url)
    host = (parts.hostname or "console").lower()
    shown = f"[{host}]" if ":" in host else host
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return shown if port == 443 else f"{shown}:{port}"


_CONSOLE_KEYS = {
    "name",
    "url",
    "token_file",
    "token_env",
    "connectors",
    "ca_bundle",
    "site_ids",
    "account_ids",
}
_TOP_KEYS = {"db", "ca_bundle", "console"}


MAX_CONFIG_BYTES = 1024 * 1024  # a config file lists consoles: kilobytes, never megabytes


def _read_config(path: Path) -> str:
    """The config file's text: a regular file (a FIFO would hang, /dev/zero never end) of at
    most ``MAX_CONFIG_BYTES``, opened without blocking."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ConfigError(f"config file {path} is not a regular file; give a TOML file")
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(MAX_CONFIG_BYTES + 1)
    finally:
        os.close(fd)
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(f"config file {path} is larger than 1 MiB; is it the right file?")
    return data.decode("utf-8")


def _load_file(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(_read_config(path))
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise ConfigError(
            f"config file {path}: unknown key(s) {', '.join(sorted(unknown))}; "
            f"known: {', '.join(sorted(_TOP_KEYS))}"
        )
    _check_types(data, path)
    return data


# Keys whose value must be text: a number or a list there (``db = 5``, ``url = [..]``) would
# otherwise be used as a file named "5" or fail deep inside with an internal error.
_TEXT_KEYS = ("db", "ca_bundle")
_CONSOLE_TEXT_KEYS = ("name", "url", "token_file", "token_env", "ca_bundle")


def _check_types(data: dict[str, Any], path: Path) -> None:
    for key in _TEXT_KEYS:
        if key in data and not isinstance(data[key], str):
            raise ConfigError(
                f"config file {path}: {key} must be a quoted string, not {_kind(data[key])} "
                f'(e.g. {key} = "...")'
            )
    consoles = data.get("console", [])
    if not isinstance(consoles, list) or not all(isinstance(c, dict) for c in consoles):
        raise ConfigError(f"config file {path}: use [[console]] tables")
    for i, item in enumerate(consoles, 1):
        for key in _CONSOLE_TEXT_KEYS:
            if key in item and not isinstance(item[key], str):
                raise ConfigError(
                    f"config file {path}, console {i}: {key} must be a quoted string, not "
                    f'{_kind(item[key])} (e.g. {key} = "...")'
                )


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    return type(value).__name__


def _scope_ids(item: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
    """``site_ids = ["123", 456]``: SentinelOne ids, kept as text (they exceed 2^53)."""
    value = item.get(key)
    if value is None:
        return ()
    if not isinstance(value, list) or not value:
        raise ConfigError(f"{where}: {key} must be a non-empty list of ids")
    ids = [str(v).strip() for v in value]
    bad = [i for i in ids if not i.isdigit()]
    if bad or any(isinstance(v, bool) for v in value):
        raise ConfigError(f"{where}: {key} holds something that is not an id: {bad[:3]}")
    return tuple(dict.fromkeys(ids))


def _connectors(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: connectors must be a list such as threats,assets")
    bad = [v for v in value if v not in ORDER]
    if bad:
        raise ConfigError(
            f"{where}: unknown connector(s) {', '.join(bad)}; known: {', '.join(ORDER)}"
        )
    return tuple(c for c in ORDER if c in value)


def load(
    *,
    url: str | None = None,
    token_file: str | None = None,
    db: str | None = None,
    config: str | None = None,
    ca_bundle: str | None = None,
    connectors: str | None = None,
    env: Mapping[str, str] | None = None,
    prompt: Callable[[], str] | None = None,
    need_console: bool = True,
    console: str | None = None,
    all_consoles: bool = False,
) -> Settings:
    """Settings with the documented precedence. ``prompt`` asks for the token on a terminal
    when nothing else provides one (never echoed). ``all_consoles``: every console of the
    config file, which must be given and list some; ``S1_URL`` is then not looked at."""
    env = os.environ if env is None else env
    warnings: list[str] = []
    file_data: dict[str, Any] = {}
    config_path = config or env.get("S1UVM_CONFIG")
    if config_path:
        file_data = _load_file(Path(config_path).expanduser())
    ca = ca_bundle or env.get("SSL_CERT_FILE") or file_data.get("ca_bundle")
    if ca is not None:
        check_ca_bundle(str(ca), "CA bundle")
    database = db or env.get("S1UVM_DB") or file_data.get("db") or default_db()
    chosen = _connectors(connectors, "--connectors") if connectors else None
    consoles: list[ConsoleConfig] = []
    if all_consoles:
        if url:
            raise ConfigError("--all syncs the consoles of the config file; leave out --url")
        if not config_path or not file_data.get("console"):
            raise ConfigError(
                "--all syncs every [[console]] of a config file: give --config PATH "
                "(or S1UVM_CONFIG) naming a file that lists them"
            )
    flag_url = url or (None if all_consoles else env.get("S1_URL"))
    if flag_url or not file_data.get("console"):
        if not need_console and not flag_url:
            return Settings((), str(database), tuple(warnings))
        normal = normalise_url(flag_url)
        if token_file:
            token = read_token_file(token_file, warnings)
        elif env.get("S1_API_TOKEN"):
            token = _token(env["S1_API_TOKEN"], "S1_API_TOKEN")
        elif prompt is not None:
            token = _token(prompt(), "the API token")
        else:
            raise ConfigError(
                "no API token: set S1_API_TOKEN or give --token-file PATH "
                "(a token is never accepted as a command-line value)"
            )
        consoles.append(
            ConsoleConfig(
                console or console_name(normal),
                normal,
                token,
                chosen or ORDER,
                str(ca) if ca else None,
            )
        )
    else:
        items = file_data["console"]
        if not isinstance(items, list):
            raise ConfigError(f"config file {config_path}: use [[console]] tables")
        names: set[str] = set()
        for i, item in enumerate(items, 1):
            where = f"config file {config_path}, console {i}"
            unknown = set(item) - _CONSOLE_KEYS
            if unknown:
                raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
            normal = normalise_url(item.get("url"))
            name = str(item.get("name") or console_name(normal))
            if name in names:
                raise ConfigError(f"{where}: the name {name!r} is used twice")
            names.add(name)
            if item.get("token_file"):
                token = read_token_file(item["token_file"], warnings)
            elif item.get("token_env"):
                value = env.get(str(item["token_env"]))
                if not value:
                    raise ConfigError(
                        f"{where}: environment variable {item['token_env']} is not set"
                    )
                token = _token(value, str(item["token_env"]))
            else:
                raise ConfigError(f"{where}: give token_file or token_env (never the token)")
            conns = chosen or (
                _connectors(item["connectors"], where) if "connectors" in item else ORDER
            )
            item_ca = item.get("ca_bundle") or ca
            if item.get("ca_bundle"):
                check_ca_bundle(item["ca_bundle"], f"{where}: CA bundle")
            sites = _scope_ids(item, "site_ids", where)
            accounts = _scope_ids(item, "account_ids", where)
            if sites and accounts:
                raise ConfigError(f"{where}: give site_ids or account_ids, not both")
            consoles.append(
                ConsoleConfig(
                    name,
                    normal,
                    token,
                    conns,
                    str(item_ca) if item_ca else None,
                    site_ids=sites,
                    account_ids=accounts,
                )
            )
        if console is not None:
            picked = [c for c in consoles if c.name == console]
            if not picked:
                raise ConfigError(
                    f"config file {config_path} has no console named {console!r}; its consoles: "
                    + ", ".join(c.name for c in consoles)
                )
            consoles = picked
    return Settings(tuple(consoles), str(database), tuple(warnings))
