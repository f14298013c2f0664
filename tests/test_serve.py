"""`charbot serve` as other programs use it: a real server process on 127.0.0.1, the real `openai` client, `llm`
through extra-openai-models.yaml, raw HTTP for what clients hide. Every wait is bounded; nothing leaves the
loopback."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest

import charbot
from charbot.serve.requests import BadRequest, messages_text, parse

openai = pytest.importorskip("openai")
KEY = "test-key-1234"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def server(tiny_checkpoint):
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "charbot", "serve", "--port", str(port), "--checkpoint",
                                str(tiny_checkpoint), "--api-key", KEY, "--max-streams", "8"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if urllib.request.urlopen(base + "/health", timeout=2).status == 200:
                break
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.2)
    else:
        process.kill()
        pytest.fail("the server did not become healthy in 90 s: " + process.stderr.read()[-2000:])
    yield base, str(tiny_checkpoint), process
    process.terminate()
    assert process.wait(timeout=30) == 0  # SIGTERM ends it cleanly


@pytest.fixture
def client(server):
    return openai.OpenAI(base_url=server[0] + "/v1", api_key=KEY, max_retries=0, timeout=60)


def test_models_and_a_completion_equal_to_the_api(server, client):
    base, name, _ = server
    assert [m.id for m in client.models.list()] == [name]
    done = client.completions.create(model=name, prompt="WREN:", max_tokens=50, seed=7, temperature=0.9)
    expected = charbot.load(name).generate("WREN:", max_chars=50, random_seed=7, temperature=0.9)
    assert done.choices[0].text == expected and done.choices[0].finish_reason == "length"
    assert done.usage.prompt_tokens == 5 and done.usage.completion_tokens == 50
    again = client.completions.create(model=name, prompt="WREN:", max_tokens=50, seed=7, temperature=0.9)
    assert again.choices[0].text == expected  # the same seed, the same text (the second primed from the cache)


def test_chat_completions_streamed_and_not_with_usage(server, client):
    name = server[1]
    messages = [{"role": "user", "name": "WREN", "content": "What news from shore?"},
                {"role": "assistant", "name": "ASHER", "content": "No news but gulls."},
                {"role": "user", "name": "WREN", "content": "And the bell?"}]
    whole = client.chat.completions.create(model=name, messages=messages, max_tokens=200, seed=3)
    chunks = list(client.chat.completions.create(model=name, messages=messages, max_tokens=200, seed=3, stream=True,
                                                 stream_options={"include_usage": True}))
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert streamed == whole.choices[0].message.content and "\n\n" not in streamed  # one speech, stop not sent
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == whole.usage.completion_tokens
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == whole.choices[0].finish_reason


def test_stop_is_honoured_and_not_sent(server, client):
    # The stop is two characters this seed's free text holds (a fixed one hangs on what the tiny model learnt).
    free = client.completions.create(model=server[1], prompt="WREN:\n", max_tokens=300, seed=2).choices[0].text
    stop = free[40:42]
    done = client.completions.create(model=server[1], prompt="WREN:\n", max_tokens=300, seed=2, stop=[stop])
    assert done.choices[0].text == free[:free.index(stop)] and done.choices[0].finish_reason == "stop"


def test_a_key_is_required_and_bad_values_name_their_field(server):
    base, name, _ = server
    no_key = openai.OpenAI(base_url=base + "/v1", api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        no_key.models.list()
    with pytest.raises(openai.BadRequestError, match="temperature"):
        openai.OpenAI(base_url=base + "/v1", api_key=KEY, max_retries=0).completions.create(
            model=name, prompt="x", temperature=-1)
    request = urllib.request.Request(base + "/v1/completions", data=b"{not json", method="POST",
                                     headers={"Authorization": f"Bearer {KEY}"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 400 and "not valid JSON" in json.loads(refused.value.read())["error"]["message"]


def metrics(base: str) -> dict:
    text = urllib.request.urlopen(base + "/metrics", timeout=10).read().decode()
    return {line.split()[0]: float(line.split()[1]) for line in text.splitlines()}


def test_a_client_that_leaves_mid_stream_leaves_the_batch(server):
    base, name, _ = server
    before = metrics(base)["charbot_cancelled_total"]
    body = json.dumps({"model": name, "prompt": "WREN:", "max_tokens": 4000, "stream": True}).encode()
    request = urllib.request.Request(base + "/v1/completions", data=body, method="POST",
                                     headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"})
    response = urllib.request.urlopen(request, timeout=30)
    assert response.readline().startswith(b"data: ")
    response.close()  # the client goes
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        now = metrics(base)
        if now["charbot_cancelled_total"] > before and now["charbot_streams_active"] == 0:
            break
        time.sleep(0.05)
    else:
        pytest.fail(f"the stream stayed in the batch: {metrics(base)}")


def test_eight_concurrent_streams_give_what_eight_sequential_requests_give(server, client):
    name = server[1]
    ask = lambda seed: "".join(c.choices[0].text for c in client.completions.create(  # noqa: E731
        model=name, prompt="ASHER:", max_tokens=120, seed=seed, temperature=1.0, stream=True))
    sequential = [ask(seed) for seed in range(1, 9)]
    concurrent: dict[int, str] = {}
    threads = [threading.Thread(target=lambda s=seed: concurrent.__setitem__(s, ask(s))) for seed in range(1, 9)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert [concurrent[seed] for seed in range(1, 9)] == sequential and len(set(sequential)) > 1


def test_llm_through_extra_openai_models(server, tmp_path):
    pytest.importorskip("llm")
    base, name, _ = server
    (tmp_path / "extra-openai-models.yaml").write_text(
        f"- model_id: charbot-served\n  model_name: {json.dumps(name)}\n  api_base: {base}/v1\n"
        f"  api_key_name: charbot\n  completion: true\n")
    (tmp_path / "keys.json").write_text(json.dumps({"charbot": KEY}))
    done = subprocess.run([sys.executable, "-m", "llm", "-m", "charbot-served", "WREN:", "-o", "max_tokens", "30",
                           "-o", "seed", "4", "--no-log"], capture_output=True, text=True, timeout=120,
                          env={**__import__("os").environ, "LLM_USER_PATH": str(tmp_path)})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.rstrip("\n") == charbot.load(name).generate("WREN:", max_chars=30, random_seed=4).rstrip("\n")


def test_requests_are_checked_before_anything_runs():
    with pytest.raises(BadRequest, match="n must be 1"):
        parse({"model": "m", "prompt": "x", "n": 2}, chat=False)
    with pytest.raises(BadRequest, match="max_tokens must be from 1 to 4,000|max_tokens must be from 1 to 4000"):
        parse({"model": "m", "prompt": "x", "max_tokens": 10**6}, chat=False)
    job = parse({"model": "m", "prompt": "x", "max_completion_tokens": 9, "colour": "red"}, chat=False)
    assert job.settings.max_chars == 9 and job.settings.stop == ()
    assert messages_text([{"role": "user", "content": "Hi"}]) == "USER:\nHi\n\nASSISTANT:\n"


def test_a_conversation_sent_again_pays_only_for_its_new_text(server, client):
    base, name, _ = server
    first = [{"role": "user", "name": "WREN", "content": "The tide is turning."}]
    reply = client.chat.completions.create(model=name, messages=first, max_tokens=300, seed=5)
    ended = "\n\n" if reply.choices[0].finish_reason == "stop" else ""  # the blank line that ended the speech
    before = metrics(base)
    longer = first + [{"role": "assistant", "content": reply.choices[0].message.content},
                      {"role": "user", "name": "WREN", "content": "Then row."}]
    client.chat.completions.create(model=name, messages=longer, max_tokens=20, seed=5)
    after = metrics(base)
    reused = after["charbot_prompt_characters_cached_total"] - before["charbot_prompt_characters_cached_total"]
    primed = after["charbot_prompt_characters_primed_total"] - before["charbot_prompt_characters_primed_total"]
    earlier = messages_text(first) + reply.choices[0].message.content + ended  # what the first request fed
    assert reused == len(earlier) and primed == len(messages_text(longer)) - len(earlier)


def test_poem_settings_are_fields_too(server, client):
    job = parse({"model": "m", "prompt": "春江", "form": "qijue", "acrostic": "春夏秋冬", "rhyme": True}, chat=False)
    assert (job.settings.form, job.settings.acrostic, job.settings.rhyme, job.prefix) == ("七绝", "春夏秋冬", True, "春江")
    with pytest.raises(openai.BadRequestError, match="knows no Chinese characters"):
        client.completions.create(model=server[1], prompt="WREN:", extra_body={"form": "七绝"})
    with pytest.raises(openai.BadRequestError, match="unknown form"):
        client.completions.create(model=server[1], prompt="WREN:", extra_body={"form": "sonnet"})
