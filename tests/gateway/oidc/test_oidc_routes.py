"""OIDC sign-in against a real OpenID provider: landing in the mapped tenant and role, refusals as clear pages,
CSRF on cookie writes (none for bearer calls), tenant isolation, sign-out; and a gateway without a provider."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from fastapi.testclient import TestClient

from services.gateway.app import create_app
from tests.gateway.conftest import CPU_RULE, is_problem, mint, settings_for
from tests.gateway.oidc.conftest import csrf, oidc_settings, sign_in, through_provider
from tests.support.oidc_provider import PUBLIC_CLIENT_ID, OidcProvider


def test_sign_in_lands_in_the_mapped_tenant_and_role(gateway: TestClient) -> None:
    start = gateway.get("/cep/auth/oidc/login", params={"next": "/cep-events"}, follow_redirects=False)
    query = parse_qs(urlsplit(start.headers["location"]).query)
    assert query["code_challenge_method"] == ["S256"] and query["response_type"] == ["code"]
    assert {"state", "nonce", "code_challenge"} <= set(query)
    answer = sign_in(gateway, "erin")
    assert (answer.status_code, answer.headers["location"]) == (303, "/cep-events")
    cookie = next(h for h in answer.headers.get_list("set-cookie") if h.startswith("cep_session="))
    assert {"HttpOnly", "Path=/", "SameSite=lax"} <= {part.strip() for part in cookie.split(";")}
    assert "Max-Age=28800" in cookie
    session = gateway.get("/cep/auth/session").json()
    assert (session["tenant"], session["role"], session["name"]) == ("acme", "editor", "Erin Editor")
    me = gateway.get("/cep/auth/whoami").json()
    assert (me["tenant"], me["role"], me["token_id"]) == ("acme", "editor", session["token_id"])


def test_cookie_writes_need_the_csrf_header_and_bearer_calls_do_not(gateway: TestClient) -> None:
    other = mint(gateway, "globex", "editor")
    foreign = gateway.post("/cep/rules", headers=other, json={**CPU_RULE, "name": "globex_rule"})
    assert foreign.status_code == 201  # a bearer call: no CSRF header, no cookie
    sign_in(gateway, "erin")
    body = is_problem(gateway.post("/cep/rules", json=CPU_RULE), 403)
    assert "X-CSRF-Token" in body["detail"]
    is_problem(gateway.post("/cep/rules", json=CPU_RULE, headers={"X-CSRF-Token": "guess"}), 403)
    created = gateway.post("/cep/rules", json=CPU_RULE, headers=csrf(gateway))
    assert created.status_code == 201, created.text
    assert created.json()["tenant"] == "acme"
    # the session sees its own tenant only
    names = {rule["name"] for rule in gateway.get("/cep/rules").json()["items"]}
    assert "globex_rule" not in names and "cpu_high_alert" in names
    is_problem(gateway.get(f"/cep/rules/{foreign.json()['rule_id']}"), 404)
    is_problem(gateway.delete(f"/cep/rules/{foreign.json()['rule_id']}", headers=csrf(gateway)), 404)
    # a bearer token wins over the cookie, and needs no CSRF header even with the cookie present
    both = gateway.post("/cep/rules", headers=other, json={**CPU_RULE, "name": "globex_two"})
    assert (both.status_code, both.json()["tenant"]) == (201, "globex")


def test_a_viewer_cannot_save_a_rule(gateway: TestClient) -> None:
    sign_in(gateway, "victor")
    assert gateway.get("/cep/rules").status_code == 200
    body = is_problem(gateway.post("/cep/rules", json=CPU_RULE, headers=csrf(gateway)), 403)
    assert "editor role" in body["detail"]


def test_a_callback_that_does_not_belong_to_a_sign_in_here_is_refused(gateway: TestClient) -> None:
    no_cookie = gateway.get("/cep/auth/oidc/callback", params={"code": "c", "state": "s"})
    assert no_cookie.status_code == 400 and "no sign-in is under way" in no_cookie.text
    callback = urlsplit(through_provider(gateway, "erin"))
    params = {key: values[0] for key, values in parse_qs(callback.query).items()}
    bad_state = gateway.get(callback.path, params={**params, "state": "forged"}, follow_redirects=False)
    assert bad_state.status_code == 400 and "state mismatch" in bad_state.text
    assert bad_state.headers["content-type"].startswith("text/html")
    assert "cep_session" not in gateway.cookies and gateway.get("/cep/auth/session").status_code == 401
    assert "cep_sign_in" not in gateway.cookies  # a refused answer ends the sign-in under way


def test_a_used_code_and_a_provider_error_are_refused_with_a_page(gateway: TestClient) -> None:
    callback = urlsplit(through_provider(gateway, "erin"))
    sign_in_cookie = gateway.cookies["cep_sign_in"]
    assert gateway.get(f"{callback.path}?{callback.query}", follow_redirects=False).status_code == 303
    gateway.cookies.clear()
    gateway.cookies.set("cep_sign_in", sign_in_cookie)
    replayed = gateway.get(f"{callback.path}?{callback.query}", follow_redirects=False)
    assert replayed.status_code == 400 and "could not be verified" in replayed.text  # the provider refuses it
    denied = gateway.get(callback.path, params={"error": "access_denied", "error_description": "<b>no</b>"})
    assert denied.status_code == 403 and "access_denied: &lt;b&gt;no&lt;/b&gt;" in denied.text


def test_an_account_without_a_tenant_is_refused_with_a_reason(gateway: TestClient) -> None:
    answer = sign_in(gateway, "nomad")
    assert answer.status_code == 403
    assert "cannot use CEP" in answer.text and "no &#39;cep_tenant&#39; claim" in answer.text
    assert gateway.get("/cep/auth/session").status_code == 401


def test_sign_out_ends_the_session(gateway: TestClient) -> None:
    sign_in(gateway, "erin")
    cookie = gateway.cookies["cep_session"]
    is_problem(gateway.post("/cep/auth/logout"), 403)  # a change like any other: the CSRF header is needed
    out = gateway.post("/cep/auth/logout", headers=csrf(gateway))
    assert out.status_code == 204
    assert out.headers["set-cookie"].startswith('cep_session=""') and "Max-Age=0" in out.headers["set-cookie"]
    gateway.cookies.set("cep_session", cookie)  # a copy of the cookie kept from before is refused too
    is_problem(gateway.get("/cep/rules"), 401)
    assert "signed out" in gateway.get("/cep/auth/session").json()["detail"]
    assert gateway.post("/cep/auth/logout").status_code == 204  # nothing to sign out of


def test_a_stream_ticket_asked_for_with_the_session_opens_its_stream(gateway: TestClient) -> None:
    sign_in(gateway, "erin")
    ticket = gateway.post("/cep/events/stream/ticket", headers=csrf(gateway))
    assert ticket.status_code == 200, ticket.text
    gateway.cookies.clear()  # the ticket alone opens the stream, as EventSource does
    with gateway.stream("GET", "/cep/events/stream", params={"ticket": ticket.json()["ticket"]}) as stream:
        assert stream.status_code == 200 and stream.headers["content-type"].startswith("text/event-stream")


def test_the_pages_offer_sign_in_instead_of_the_token_field(gateway: TestClient) -> None:
    page = gateway.get("/cep-builder")
    assert 'id="sign-in"' in page.text and "/cep/auth/oidc/login?next=/cep-builder" in page.text
    assert 'id="api-token"' not in page.text and 'data-auth="session"' in page.text
    sign_in(gateway, "erin")
    page = gateway.get("/cep-builder")
    assert f'<meta name="csrf-token" content="{csrf(gateway)["X-CSRF-Token"]}">' in page.text
    assert 'id="sign-out"' in page.text and "Erin Editor" in page.text
    assert page.headers["cache-control"] == "no-store"


def test_a_public_client_signs_in_with_pkce_alone(provider: OidcProvider, tmp_path: Path) -> None:
    settings = oidc_settings(provider.issuer, client_id=PUBLIC_CLIENT_ID, client_secret=None)
    with TestClient(create_app(settings_for(tmp_path, oidc=settings))) as public:
        answer = sign_in(public, "gina", "/cep-channels")
        assert (answer.status_code, answer.headers["location"]) == (303, "/cep-channels"), answer.text
        me = public.get("/cep/auth/whoami").json()
        assert (me["tenant"], me["role"], me["name"]) == ("globex", "editor", "Gina")


def test_a_next_page_elsewhere_is_not_followed() -> None:
    from services.gateway.oidc.routes import DEFAULT_NEXT, safe_next

    for bad in ("https://evil.example/", "//evil.example", "/\\evil.example", "cep-events", "/a\nb", "/" + "a" * 3000):
        assert safe_next(bad) == DEFAULT_NEXT
    assert safe_next("/cep-events?id=1") == "/cep-events?id=1"


def test_without_a_provider_the_sign_in_routes_answer_404_and_the_page_keeps_the_token_field(
    client: TestClient,
) -> None:
    assert "no OpenID provider" in is_problem(client.get("/cep/auth/session"), 401)["detail"]
    is_problem(client.get("/cep/auth/oidc/login"), 404)
    is_problem(client.get("/cep/auth/oidc/callback", params={"state": "x", "code": "y"}), 404)
    assert client.post("/cep/auth/logout").status_code == 204
    client.cookies.set("cep_session", "anything")
    is_problem(client.get("/cep/rules"), 401)  # a cookie means nothing here
    page = client.get("/cep-builder").text
    assert 'id="api-token"' in page and 'id="sign-in"' not in page and "data-auth" not in page
