"""Password policy: pure checks that explain every problem at once, so a client can show them together."""


def password_problems(password: str, *, min_length: int, max_length: int, email: str | None = None,
                      display_name: str | None = None) -> list[str]:
    problems: list[str] = []
    if len(password) < min_length:
        problems.append(f"must be at least {min_length} characters long")
    if len(password) > max_length:
        problems.append(f"must be at most {max_length} characters long")
    if password.strip() == "":
        problems.append("must not be only whitespace")
    elif len(set(password)) < 4:
        problems.append("must contain at least 4 different characters")
    lowered = password.casefold()
    if email and lowered == email.casefold():
        problems.append("must not be the email address")
    if email and len(email.split("@")[0]) >= 4 and lowered == email.split("@")[0].casefold():
        problems.append("must not be the email's local part")
    if display_name and lowered == display_name.casefold():
        problems.append("must not be the display name")
    return problems
