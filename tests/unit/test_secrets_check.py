"""The end-of-run secrets check (tests/conftest.py) finds a configured secret or a platform token in a log."""

from tests.conftest import leaks


def test_a_configured_token_or_a_platform_token_in_a_log_is_found(tmp_path, monkeypatch):
    monkeypatch.setenv("UNLEASH_ADMIN_TOKEN", "*:*.0123456789abcdef0123")
    clean, leaky, platform = (tmp_path / name for name in ("clean.txt", "leaky.txt", "platform.txt"))
    clean.write_text("GET /plans 200 request_id=abc\n")
    leaky.write_text("calling Unleash with *:*.0123456789abcdef0123\n")
    platform.write_text("Authorization: Bearer rp_" + "A" * 43 + "\n")
    found = leaks([clean, leaky, platform])
    assert len(found) == 2 and "leaky.txt" in found[0] and "platform.txt" in found[1]
    assert "0123456789abcdef" not in " ".join(found)  # the report does not repeat the secret
