"""Approval tokens: signed, tamper-evident, bound to one decision; the key file."""

from __future__ import annotations

import stat
from pathlib import Path

from flov7.security.approvals import KEY_FILE, ApprovalSigner, load_signing_key


def test_a_minted_token_verifies_and_says_what_it_grants() -> None:
    signer = ApprovalSigner(key=b"k" * 32, public_url="https://flov7.example")
    token = signer.mint("run-1", "ask", "approve", 1_900_000_000, "Ship?")
    claim = signer.verify(token)
    assert claim is not None
    assert (claim.execution_id, claim.node_id, claim.decision) == ("run-1", "ask", "approve")
    assert claim.expires_at == 1_900_000_000 and claim.title == "Ship?"
    assert claim.event == "approval:ask"
    links = signer.links("run-1", "ask", 1_900_000_000, "Ship?")
    assert links["approve_url"].startswith("https://flov7.example/approve/")
    assert links["reject_url"].startswith("https://flov7.example/reject/")


def test_tampered_foreign_and_malformed_tokens_do_not_verify() -> None:
    signer = ApprovalSigner(key=b"k" * 32, public_url="http://x")
    token = signer.mint("run-1", "ask", "reject", 1_900_000_000, "")
    signature = token.split(".")[1]
    other = ApprovalSigner(key=b"j" * 32, public_url="http://x")
    forged_body = signer.mint("run-2", "ask", "reject", 1_900_000_000, "").split(".")[0]
    for bad in (
        f"{forged_body}.{signature}",
        other.mint("run-1", "ask", "reject", 1_900_000_000, ""),
        token + "x",
        "nothing",
        "a.b.c",
        "!!!.???",
        "x" * 9000,
    ):
        assert signer.verify(bad) is None, bad


def test_the_generated_key_is_kept_private_and_reused(tmp_path: Path) -> None:
    first = load_signing_key(None, tmp_path / "data")
    again = load_signing_key(None, tmp_path / "data")
    assert first == again and len(first) == 64
    mode = stat.S_IMODE((tmp_path / "data" / KEY_FILE).stat().st_mode)
    assert mode == 0o600
    assert load_signing_key("configured", tmp_path / "other") == b"configured"
    assert not (tmp_path / "other").exists()
