from agora_common.settings import ServiceSettings
from pydantic import Field, SecretStr


class Settings(ServiceSettings):
    service_name: str = "users"

    # argon2id cost: OWASP's recommended configuration (19 MiB, 2 passes, 1 lane; ~65 ms a hash on this 2-core
    # dev machine). Raise it where login CPU is plentiful; tests lower it to stay fast.
    argon2_time_cost: int = Field(default=2, ge=1)
    argon2_memory_cost_kib: int = Field(default=19 * 1024, ge=8)
    argon2_parallelism: int = Field(default=1, ge=1)

    password_min_length: int = Field(default=10, ge=6)  # the shortest password registration accepts
    password_max_length: int = Field(default=256, ge=16)  # bounds hashing work per request

    # Brute-force protection, per (email, client address): this many failed logins within the window lock that
    # pair for login_lockout_base_seconds, doubled at each lock in a row up to login_lockout_seconds. Another
    # address (the member's own) is not affected, so nobody can lock a member out.
    login_max_failures: int = Field(default=10, ge=1)
    login_failure_window_seconds: int = Field(default=15 * 60, ge=1)
    login_lockout_base_seconds: int = Field(default=30, ge=1)
    login_lockout_seconds: int = Field(default=15 * 60, ge=1)

    # Created at startup when both are set and no user has that email.
    bootstrap_operator_email: str | None = None
    bootstrap_operator_password: SecretStr | None = None
    bootstrap_operator_name: str = "Operator"

    # Segmentation (see README "Member segments").
    active_window_days: int = Field(default=30, ge=1)
    core_window_days: int = Field(default=90, ge=1)
    core_min_contributions: int = Field(default=5, ge=1)

    # Consume the domain topics for segmentation and honor titles (off only in special deployments).
    consume_events: bool = True
