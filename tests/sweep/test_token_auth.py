"""Ray 2.60 clusters started by `ray start` use token auth. A sweep joining one that it found on this machine sends
the token as `ray.init()` would (RAY_AUTH_MODE=token when unset and a token is at hand); an explicit setting is
kept; a cluster that refuses the sweep names the settings to check."""
import os
import subprocess
import sys

import pytest

PROBE = ("import os; from orchestrator.sweep.connect import token_auth_as_ray_would; token_auth_as_ray_would(); "
         "print(os.environ.get('RAY_AUTH_MODE'))")


def auth_mode_after(tmp_path, token: bool, **env: str) -> str:
    """RAY_AUTH_MODE after token_auth_as_ray_would(), in a fresh process (it also sets Ray's process-wide config)."""
    home = tmp_path / "home"
    (home / ".ray").mkdir(parents=True)
    if token:
        (home / ".ray" / "auth_token").write_text("0" * 64)
    base = {k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH")}
    done = subprocess.run([sys.executable, "-c", PROBE], env=base | {"HOME": str(home), **env}, capture_output=True,
                          text=True, timeout=120, check=True)
    return done.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize("token, env, expected", [
    (True, {}, "token"),  # the token `ray start` left in ~/.ray: sent, as ray.init() would
    (False, {}, "None"),  # no token at hand: nothing changes
    (True, {"RAY_AUTH_MODE": "disabled"}, "disabled"),  # the user's choice stands
])
def test_a_cluster_found_on_this_machine_gets_rays_own_token_rule(tmp_path, token, env, expected):
    assert auth_mode_after(tmp_path, token, **env) == expected


def test_a_refused_connection_names_the_token_settings(monkeypatch):
    from orchestrator.sweep.connect import _auth_hint

    monkeypatch.delenv("RAY_AUTH_MODE", raising=False)
    assert "RAY_AUTH_MODE=token" in _auth_hint() and "~/.ray/auth_token" in _auth_hint()
    monkeypatch.setenv("RAY_AUTH_MODE", "token")
    assert _auth_hint() == ""
