"""`berrys chat`: the same Berry from the command line (a real process on its own database)."""

from __future__ import annotations

import json

from tests.e2e.processes import berrys_env, run_berrys


def test_chat_on_the_command_line(tmp_path):
    env = berrys_env(tmp_path, BERRYS_LOCAL_MODEL_ENABLED="false")
    assert run_berrys("db", "upgrade", env=env).returncode == 0
    created = run_berrys(
        "user", "create", "--email", "cli@example.com", env=env, stdin="pw-long-enough\n"
    )
    assert created.returncode == 0, created.stderr

    first = run_berrys(
        "chat",
        "--email",
        "cli@example.com",
        "Create a project called Bakery Site to build a website for my bakery",
        env=env,
    )
    assert first.returncode == 0, first.stderr
    assert 'I created the project "Bakery Site"' in first.stdout
    assert "CREATE_PROJECT COMPLETED" in first.stdout
    conversation = first.stdout.split("Conversation ", 1)[1].split()[0]

    follow = run_berrys(
        "chat",
        "--email",
        "cli@example.com",
        "--session",
        conversation,
        "--json",
        env=env,
        stdin="generate the team\nhow is it going?\n",
    )
    assert follow.returncode == 0, follow.stderr
    replies = [json.loads(line) for line in follow.stdout.splitlines()]
    assert [r["intent"] for r in replies] == ["GENERATE_TEAM", "STATUS"]
    assert replies[0]["actions"][0]["status"] == "COMPLETED"
    assert replies[1]["actions"][0]["result"]["name"] == "Bakery Site"

    unknown = run_berrys("chat", "--email", "nobody@example.com", "hi", env=env)
    assert unknown.returncode == 1
    assert "No user with email nobody@example.com" in unknown.stderr
