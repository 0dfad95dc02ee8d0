"""Settings of the gateway (environment variables with the CEP_ prefix), built once and passed down."""

from __future__ import annotations

from pathlib import Path

import nkeys
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from services.common.domain.labels import rule_labels
from services.common.domain.labels.rule_labels import LabelLimits
from services.common.domain.lifecycle.ack_sla import DEFAULT_ACK_SLA, AckSla, parse_ack_sla
from services.common.domain.posted_alerts import postable
from services.common.domain.posted_alerts.postable import PostLimits
from services.common.domain.routing.policy_document import PolicyLimits
from services.common.secrets.sealing import SecretBox, load_box
from services.common.settings import ServiceSettings
from services.gateway.oidc.oidc_settings import OidcSettings


class GatewaySettings(ServiceSettings):
    """`CEP_DATABASE_URL` (default: SQLite in the state dir), `CEP_ADMIN_TOKEN`, `CEP_MAX_BODY_BYTES`, ports."""

    # Errors name the variable but never echo its value: several of these are secrets.
    model_config = SettingsConfigDict(hide_input_in_errors=True)

    database_url: str | None = None
    admin_token: str | None = None
    max_body_bytes: int = 1_048_576
    # The Prometheus and OTLP ingest routes: the most a compressed body may expand to (a snappy or gzip bomb: 413).
    max_decompressed_bytes: int = Field(default=4 * 1_048_576, gt=0)
    # POST /cep/ingest is limited per tenant by its quota (`ingest_rate`/`ingest_burst`, CEP_QUOTA_INGEST_RATE and
    # _BURST or the platform admin's override), in each gateway replica: past it, 429 with Retry-After.
    # SSE stream tickets (POST /cep/events/stream/ticket): how long one is valid, and the key that signs them,
    # shared by every replica. Unset: derived from CEP_ADMIN_TOKEN (which every replica has), else a key file
    # generated in the state dir (services/gateway/live/stream_tickets.py).
    stream_ticket_seconds: float = Field(default=60.0, gt=0, le=600)
    stream_ticket_key: SecretStr | None = None
    sse_keepalive_seconds: float = 10.0  # SSE keep-alive comment interval (the contract: at least every 15 s)
    gateway_port: int = 8080
    # The peers whose readiness makes the stack ready (`/readyz`); `cep up` sets them, so do compose and k8s.
    ingest_url: str = "http://127.0.0.1:8081"
    evaluator_url: str = "http://127.0.0.1:8082"
    notifier_url: str = "http://127.0.0.1:8083"
    scheduler_url: str = "http://127.0.0.1:8084"
    evaluator_grpc: str = "127.0.0.1:50051"
    notifier_grpc: str = "127.0.0.1:50052"
    scheduler_grpc: str = "127.0.0.1:50053"
    # The account nkey seed (`SA...`) that signs the users NATS producers get from the auth callout; set by
    # `cep up` (see services/gateway/nats/auth_callout.py). Unset: no callout responder (a NATS without auth callout).
    nats_auth_issuer_seed: SecretStr | None = None
    # The gateway's user in the NATS system account (`nats://cep-system:<password>@host:port`), set by `cep up`,
    # compose and k8s: it closes the connections of producers whose token was revoked or expired, every
    # `CEP_PRODUCER_SWEEP_SECONDS` (services/gateway/nats/producer_sessions.py). Unset: open sessions are not swept.
    nats_system_url: SecretStr | None = None
    producer_sweep_seconds: float = Field(default=2.0, gt=0, le=300)
    # ACK SLA per priority (`P1=15m,P2=1h`; empty or `off`: none): an open event past it emits
    # `cep.ack.sla_breached` (services/gateway/ack_sla.py). The platform default; tenants may get their own later.
    ack_sla: str = DEFAULT_ACK_SLA
    ack_sla_sweep_seconds: float = Field(default=5.0, gt=0, le=3600)  # how often the check looks for breaches
    # Judge only as far as the pipeline has caught up (services/gateway/catch_up.py); false only for a gateway
    # that runs without an evaluator and a router (tests of the gateway alone): then the wall clock decides.
    ack_sla_catch_up: bool = True
    # How many open events (newest first) the silence and inhibition previews match against; past it the answer
    # says `truncated: true` (routes/silences.py, routes/inhibit_rules.py).
    preview_open_events: int = Field(default=10_000, ge=1, le=1_000_000)
    # `POST /api/v2/alerts` (services/common/domain/posted_alerts/postable.py): alerts in one post, labels and
    # annotations of one alert, characters of a name, a label value and an annotation value.
    am_alerts_max_per_post: int = Field(default=postable.MAX_ALERTS, ge=1, le=100_000)
    am_alert_max_labels: int = Field(default=postable.MAX_LABELS, ge=1, le=1_000)
    am_alert_max_label_name: int = Field(default=postable.MAX_LABEL_NAME, ge=1, le=65_536)
    am_alert_max_label_value: int = Field(default=postable.MAX_LABEL_VALUE, ge=1, le=1_048_576)
    am_alert_max_annotations: int = Field(default=postable.MAX_ANNOTATIONS, ge=1, le=1_000)
    am_alert_max_annotation: int = Field(default=postable.MAX_ANNOTATION, ge=1, le=1_048_576)
    # The Fernet key(s) sealing channel secrets at rest, comma-separated (the first seals, all open), or a file of
    # them; one is required (services/common/secrets/sealing.py). `cep up` makes one; the notifier needs the same keys.
    secrets_key: SecretStr | None = None
    secrets_key_file: Path | None = None
    # OIDC sign-in for the web UI (`CEP_OIDC_*`, services/gateway/oidc/oidc_settings.py; docs/auth.md).
    oidc: OidcSettings = Field(default_factory=OidcSettings)
    # A rule's labels and annotations, checked when a rule is saved (services/common/domain/labels/rule_labels.py):
    # how many of each, and how long a name, a label value and an annotation's template may be.
    rule_max_labels: int = Field(default=rule_labels.MAX_LABELS, ge=1, le=1_000)
    rule_max_label_name: int = Field(default=rule_labels.MAX_LABEL_NAME, ge=1, le=1_024)
    rule_max_label_value: int = Field(default=rule_labels.MAX_LABEL_VALUE, ge=1, le=65_536)
    rule_max_annotations: int = Field(default=rule_labels.MAX_ANNOTATIONS, ge=1, le=1_000)
    rule_max_annotation: int = Field(default=rule_labels.MAX_ANNOTATION, ge=1, le=16_384)
    # The recorder renders the annotations of the events of one batch within this time, all renders together
    # (services/gateway/recorders/annotation_renders.py); the rest say "not rendered".
    annotation_render_seconds: float = Field(default=2.0, gt=0, le=60)
    # Notification policies (docs/alertmanager.md): how much one tenant's policy may hold. Routes nest at most 25
    # levels, so a policy stays within the JSON body's 64 levels.
    policy_max_depth: int = Field(default=PolicyLimits.max_depth, ge=1, le=25)
    policy_max_routes: int = Field(default=PolicyLimits.max_routes, ge=1, le=100_000)
    policy_max_receivers: int = Field(default=PolicyLimits.max_receivers, ge=1, le=10_000)
    policy_max_channels: int = Field(default=PolicyLimits.max_channels, ge=1, le=1_000)
    policy_max_time_intervals: int = Field(default=PolicyLimits.max_time_intervals, ge=1, le=10_000)
    policy_max_bytes: int = Field(default=PolicyLimits.max_bytes, ge=1_024, le=16 << 20)

    @field_validator("nats_auth_issuer_seed")
    @classmethod
    def _account_seed(cls, value: SecretStr | None) -> SecretStr | None:
        """A bad seed stops the gateway at start with the variable's name, never echoing the secret."""
        if value is None or not value.get_secret_value():
            return None
        seed = value.get_secret_value().strip()
        try:
            prefix, _ = nkeys.decode_seed(seed.encode())
        except (nkeys.NkeysError, ValueError):
            prefix = None
        if prefix != nkeys.PREFIX_BYTE_ACCOUNT:
            raise ValueError("CEP_NATS_AUTH_ISSUER_SEED must be an account nkey seed (it starts with 'SA')")
        return SecretStr(seed)

    @field_validator("ack_sla")
    @classmethod
    def _ack_sla_parses(cls, value: str) -> str:
        parse_ack_sla(value)  # a bad value stops the gateway at start, naming CEP_ACK_SLA and the entry
        return value

    @property
    def ack_sla_policy(self) -> AckSla:
        """The platform's ACK SLA (`CEP_ACK_SLA`)."""
        return parse_ack_sla(self.ack_sla)

    @property
    def label_limits(self) -> LabelLimits:
        """The limits of a rule's labels and annotations (`CEP_RULE_MAX_LABELS`, ...)."""
        return LabelLimits(
            labels=self.rule_max_labels,
            name=self.rule_max_label_name,
            value=self.rule_max_label_value,
            annotations=self.rule_max_annotations,
            annotation=self.rule_max_annotation,
        )

    @property
    def post_limits(self) -> PostLimits:
        """The limits of a post to `POST /api/v2/alerts` (`CEP_AM_ALERTS_MAX_PER_POST`, `CEP_AM_ALERT_MAX_*`)."""
        return PostLimits(
            alerts=self.am_alerts_max_per_post,
            labels=self.am_alert_max_labels,
            name=self.am_alert_max_label_name,
            value=self.am_alert_max_label_value,
            annotations=self.am_alert_max_annotations,
            annotation=self.am_alert_max_annotation,
        )

    def secret_box(self) -> SecretBox:
        """The box of `CEP_SECRETS_KEY` / `CEP_SECRETS_KEY_FILE`; SecretsKeyError (a clear message) without a key."""
        return load_box(self.secrets_key, self.secrets_key_file)

    @property
    def policy_limits(self) -> PolicyLimits:
        """The limits of a tenant's notification policy (`CEP_POLICY_MAX_*`)."""
        return PolicyLimits(
            max_depth=self.policy_max_depth,
            max_routes=self.policy_max_routes,
            max_receivers=self.policy_max_receivers,
            max_channels=self.policy_max_channels,
            max_time_intervals=self.policy_max_time_intervals,
            max_bytes=self.policy_max_bytes,
        )

    @property
    def peers(self) -> dict[str, str]:
        """The ops URLs of the other services, by name."""
        return {
            "ingest": self.ingest_url,
            "evaluator": self.evaluator_url,
            "notifier": self.notifier_url,
            "scheduler": self.scheduler_url,
        }

    @property
    def resolved_database_url(self) -> str:
        """The database URL to use: `CEP_DATABASE_URL`, else `sqlite:///<state_dir>/cep.db`."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.state_dir / 'cep.db'}"
