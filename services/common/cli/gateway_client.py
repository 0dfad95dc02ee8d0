"""The operator CLI's one way to the gateway: where it is, which token, and what its errors mean as exit codes.

The URL and token come from `--url`/`--token`, else `CEP_URL`/`CEP_TOKEN`, else the TOML config file at
`$CEP_CONFIG` or `~/.config/cep/config.toml` (`url = "..."`, `token = "..."`). Every command of every noun goes
through `Gateway`, so a refused request, a lost connection or a bad token ends the same way everywhere.
"""

from __future__ import annotations

import argparse
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import quote

import httpx

DEFAULT_URL = "http://127.0.0.1:8080"
TIMEOUT_SECONDS = 30.0

EXIT_OK = 0
EXIT_API = 1  # the gateway answered with an error (or a channel test failed)
EXIT_USAGE = 2  # bad arguments, a payload that is not JSON, no token configured (argparse uses 2 as well)
EXIT_UNREACHABLE = 3  # no connection to the gateway, or no answer within the timeout
EXIT_AUTH = 4  # 401 (missing, invalid, revoked or expired token) or 403 (the token's role may not do this)
EXIT_INTERRUPTED = 130  # Ctrl-C, as shells report it

EXIT_CODES_HELP = """\
configuration: --url/--token, else $CEP_URL/$CEP_TOKEN, else the TOML file $CEP_CONFIG
  (default ~/.config/cep/config.toml) with `url` and `token`; the URL defaults to http://127.0.0.1:8080.
exit codes: 0 success; 1 the API answered with an error (problem on stderr), or a channel test failed;
  2 usage error; 3 cannot reach the gateway or it timed out; 4 not authenticated or not allowed (401/403)."""


class CliError(Exception):
    """A command that cannot finish: the message for stderr and the exit code."""

    code = EXIT_API

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class UsageError(CliError):
    """The command line (or a file it names) is wrong: nothing was sent."""

    code = EXIT_USAGE


class Unreachable(CliError):
    """The gateway could not be reached, or did not answer in time."""

    code = EXIT_UNREACHABLE


class ApiError(CliError):
    """The gateway answered with an error; `status` and the problem body are kept for callers that explain it."""

    def __init__(self, response: httpx.Response) -> None:
        self.status = response.status_code
        self.problem = _problem_body(response)
        super().__init__(
            describe_problem(response.status_code, self.problem), EXIT_AUTH if self.status in (401, 403) else EXIT_API
        )


@dataclass(frozen=True)
class Target:
    """Where the gateway is and the token to present."""

    url: str
    token: str


def common_options() -> argparse.ArgumentParser:
    """The options every gateway command takes (a parent parser: they go after the verb)."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--url", default=None, help=f"the gateway (default $CEP_URL, the config file, {DEFAULT_URL})")
    parser.add_argument("--token", default=None, help="an API token (default $CEP_TOKEN, then the config file)")
    return parser


def output_option() -> argparse.ArgumentParser:
    """`-o table|json` for the commands that print what the API returned."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument(
        "-o", "--output", choices=("table", "json"), default="table", help="a table (default) or the API's JSON body"
    )
    return parser


def config_path(environ: Mapping[str, str]) -> Path:
    """The config file: `$CEP_CONFIG`, else `~/.config/cep/config.toml`."""
    return Path(environ.get("CEP_CONFIG") or Path.home() / ".config" / "cep" / "config.toml")


def read_config(path: Path) -> dict[str, Any]:
    """The config file's table ({} when there is none); a file that is not TOML is a usage error."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read the config file {path}: {exc}") from None


def resolve_target(args: argparse.Namespace, environ: Mapping[str, str] = os.environ) -> Target:
    """Flags over the environment over the config file; a token is required."""
    url, token = getattr(args, "url", None) or environ.get("CEP_URL"), args.token or environ.get("CEP_TOKEN")
    if not (url and token):
        config = read_config(config_path(environ))
        url, token = url or config.get("url"), token or config.get("token")
    if not token:
        raise UsageError(f"an API token is needed: --token, $CEP_TOKEN or `token` in {config_path(environ)}")
    return Target(url=str(url or DEFAULT_URL).rstrip("/"), token=str(token))


class Gateway:
    """An httpx client bound to one gateway and token that turns every failure into a `CliError`."""

    def __init__(self, target: Target, timeout: float = TIMEOUT_SECONDS) -> None:
        self.url = target.url
        headers = {"Authorization": f"Bearer {target.token}", "Accept": "application/json"}
        self.client = httpx.Client(base_url=target.url, headers=headers, timeout=timeout, trust_env=False)

    def __enter__(self) -> Gateway:
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.close()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send one request; a status of 400 or more raises `ApiError`, no answer raises `Unreachable`."""
        try:
            response = self.client.request(method, path, **kwargs)
        except httpx.TimeoutException:
            raise Unreachable(f"the gateway at {self.url} did not answer in time") from None
        except httpx.TransportError as exc:
            raise Unreachable(f"cannot reach the gateway at {self.url}: {exc}") from None
        if response.status_code >= 400:
            raise ApiError(response)
        return response

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> httpx.Response:
        return self.request("GET", path, params=_present(params or {}))

    def post(self, path: str, body: Any) -> httpx.Response:
        return self.request("POST", path, json=body)

    def every_page(self, path: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """A list route followed through `next_cursor` to its end, as one list body."""
        first = self.get(path, params).json()
        items, cursor = list(first["items"]), first.get("next_cursor")
        while cursor:
            page = self.get(path, {**params, "cursor": cursor}).json()
            items.extend(page["items"])
            cursor = page.get("next_cursor")
        return {"items": items, "total": first.get("total", len(items)), "next_cursor": None}


def run(name: str, args: argparse.Namespace, command: Callable[[Gateway], int], err: TextIO) -> int:
    """Run one command against the configured gateway; a `CliError` becomes its message on stderr and exit code."""
    try:
        with Gateway(resolve_target(args)) as gateway:
            try:
                return command(gateway)
            except (ValueError, KeyError, TypeError) as exc:  # a 2xx body that is not the API's (another server?)
                raise CliError(f"{gateway.url} answered with something that is not the CEP API's ({exc!r})") from None
    except CliError as exc:
        print(f"{name}: {exc}", file=err)
        return exc.code
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


def segment(value: str) -> str:
    """An id or name as one URL path segment (a slash or a space in it stays inside the segment)."""
    return quote(value, safe="")


def describe_problem(status: int, problem: Mapping[str, Any]) -> str:
    """`404 Not Found: no event evt-1` and one line per field error, from a problem+json body."""
    title = problem.get("title") or httpx.codes.get_reason_phrase(status)
    detail = problem.get("detail")
    lines = [f"{status} {title}" + (f": {detail}" if detail and detail != title else "")]
    for error in problem.get("errors") or []:
        if isinstance(error, Mapping):
            loc = ".".join(str(part) for part in error.get("loc") or [])
            lines.append(f"  {loc or '(body)'}: {error.get('msg', '')}")
    return "\n".join(lines)


def _problem_body(response: httpx.Response) -> dict[str, Any]:
    kind = response.headers.get("content-type", "no content type").split(";")[0]
    try:
        body = response.json()
    except ValueError:
        return {"detail": f"a {kind} answer, not the CEP API's"}
    return body if isinstance(body, dict) else {"detail": str(body)[:200]}


def _present(params: Mapping[str, Any]) -> dict[str, Any]:
    """Query parameters that were given (None left out; booleans as the API spells them)."""
    return {
        key: str(value).lower() if isinstance(value, bool) else value
        for key, value in params.items()
        if value is not None
    }
