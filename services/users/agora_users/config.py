from typing import Literal

from agora_common.settings import ServiceSettings
from pydantic import Field, SecretStr, model_validator


class Settings(ServiceSettings):
    service_name: str = "users"

    # argon2id cost: OWASP's recommended configuration (19 MiB, 2 passes, 1 lane; ~65 ms a hash on this 2-core
    # dev machine). Raise it where login CPU is plentiful; tests lower it to stay fast.
    argon2_time_cost: int = Field(default=2, ge=1)
    argon2_memory_cost_kib: int = Field(default=19 * 1024, ge=8)
    argon2_parallelism: int = Field(default=1, ge=1)

    password_min_length: int = Field(default=10, ge=6)  # the shortest password registration accepts
    password_max_length: int = Field(default=256, ge=16)  # bounds hashing work per request

    # Brute-force protection. Failed sign-ins are counted per (email, client address), per email (from every
    # address) and per client address (over every email), each in a window of login_failure_window_seconds. Only
    # the (email, address) pair is ever locked: login_max_failures failures lock it for login_lockout_base_seconds,
    # doubled at each lock in a row up to login_lockout_seconds (forgotten after a quiet window). The member's own
    # address is not affected, so nobody can lock a member out.
    login_max_failures: int = Field(default=10, ge=1)
    login_failure_window_seconds: int = Field(default=15 * 60, ge=1)
    login_lockout_base_seconds: int = Field(default=30, ge=1)
    login_lockout_seconds: int = Field(default=15 * 60, ge=1)

    # Sign-in asks for the human check (below) once, within the window, the (email, address) pair failed this many
    # times (or was locked), the email this many times from all addresses (distributed guessing: every address must
    # prove it is a person, nobody is locked out), or the address this many times over all emails (stuffing).
    login_human_check_after_failures: int = Field(default=3, ge=1)
    login_human_check_account_failures: int = Field(default=20, ge=1)
    login_human_check_client_failures: int = Field(default=20, ge=1)

    # Proof of a human (CAPTCHA) on every registration and on risky sign-ins: "accept" lets every request pass
    # (development); "siteverify" POSTs secret, token and client address to human_check_url (the protocol of
    # hCaptcha, Cloudflare Turnstile and reCAPTCHA) and needs its "success". human_check_site_key (public) is
    # given to clients in the 403 human_check_required so they can show the widget.
    human_check: Literal["accept", "siteverify"] = "accept"
    human_check_url: str | None = None
    human_check_secret: SecretStr | None = None
    human_check_site_key: str | None = None
    human_check_timeout_seconds: float = Field(default=5.0, gt=0, le=30)

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

    # Announcements are written to the recipients' inboxes this many at a time: one transaction (inbox rows,
    # progress, one AnnouncementDelivered event naming them) per batch.
    announcement_batch_size: int = Field(default=1000, ge=1, le=5000)

    # The SMTP mail adapter: mails each recipient of an announcement who has an email (a consumer of the users
    # topic's AnnouncementDelivered events, group `<prefix>users.mail`). Off unless enabled; needs host and from.
    mail_enabled: bool = False
    mail_smtp_host: str | None = None
    mail_smtp_port: int = Field(default=587, ge=1, le=65535)
    mail_smtp_security: Literal["starttls", "tls", "none"] = "starttls"  # or tls (implicit, port 465), or none
    mail_smtp_username: str | None = None  # log in when set (with the password)
    mail_smtp_password: SecretStr | None = None  # with mail_smtp_username
    mail_smtp_timeout_seconds: float = Field(default=10.0, gt=0, le=120)  # per connection attempt and command
    mail_from: str | None = None  # the From address, e.g. "Agora <no-reply@example.org>"
    mail_max_age_hours: int = Field(default=24, ge=1)  # older announcements are not mailed (a new adapter skips history)

    @model_validator(mode="after")
    def _human_check_complete(self) -> "Settings":
        if self.human_check == "siteverify" and not (self.human_check_url and self.human_check_secret):
            raise ValueError("human_check=siteverify needs human_check_url and human_check_secret")
        if self.human_check_url and not self.human_check_url.startswith(("https://", "http://")):
            raise ValueError("human_check_url must be an http(s) URL")
        return self

    @model_validator(mode="after")
    def _mail_complete(self) -> "Settings":
        if self.mail_enabled and not (self.mail_smtp_host and self.mail_from):
            raise ValueError("mail_enabled needs mail_smtp_host and mail_from")
        return self
