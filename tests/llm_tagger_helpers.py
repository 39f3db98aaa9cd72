"""Stand-ins for a tagging model: a cue-following answer function, a local OpenAI-style server.

``cue_answer`` plays a model that follows the prompt: it reads the numbered "Steps to tag" and
answers, in a ```json fence after a line of prose, the behaviours whose cue phrase a step holds,
quoting the cue from the step. ``FakeOpenAIServer`` is a real HTTP server on a free local port
that speaks /v1/models, /v1/chat/completions and /v1/completions and answers with any function
of the prompt text, so tests go through the real OpenAIBackend.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from generators.lm import Completion, Prompt, SamplingParams

CUES = {
    "wait, that": "backtracking",
    "let me check": "verification",
    "first, i": "subgoal_setting",
    "to get 24": "backward_chaining",
}
"""Cue phrase (lower case) → the behaviour the fake model reports for a step holding it."""

_STEP_LINE = re.compile(r"^\[(\d+)\] (.*)$", re.MULTILINE)


def steps_to_tag(prompt: str) -> list[tuple[int, str]]:
    """Return the (1-based number, text) of the steps a tagging prompt asks about."""
    tail = prompt.split("Steps to tag", 1)[1].split("\n\nReply with", 1)[0]
    return [(int(m.group(1)), m.group(2)) for m in _STEP_LINE.finditer(tail)]


def cue_answer(prompt: str) -> str:
    """Return a fenced JSON answer tagging each step by the CUES it holds."""
    if "Steps to tag" not in prompt:
        return "{}"  # the one-token reachability probe
    found = []
    for number, text in steps_to_tag(prompt):
        behaviors = []
        for cue, behavior in CUES.items():
            at = text.lower().find(cue)
            if at >= 0:
                behaviors.append({"behavior": behavior, "evidence": text[at : at + len(cue)]})
        if behaviors:
            found.append({"step": number, "behaviors": behaviors})
    return "Here are the behaviours:\n```json\n" + json.dumps({"steps": found}) + "\n```"


class ScriptedBackend:
    """An in-process LMBackend whose answers come from a list (in order) or a function."""

    supports_logprobs = False
    uses_chat_template = True

    def __init__(self, answers: list[str] | Callable[[str], str], model: str = "scripted") -> None:
        self.answers = answers
        self.model_name = model
        self.prompts: list[str] = []
        self.params: list[SamplingParams] = []

    def complete(self, prompts: list[Prompt], params: SamplingParams, **_: object) -> list:
        """Return the next scripted answers, one per prompt."""
        outs = []
        for prompt in prompts:
            self.prompts.append(prompt.user)
            self.params.append(params)
            text = self.answers(prompt.user) if callable(self.answers) else self.answers.pop(0)
            outs.append(Completion(text=text, finish_reason="eos"))
        return outs

    def describe(self) -> dict:
        """Return the backend kind and model."""
        return {"backend": "scripted", "model": self.model_name}

    def close(self) -> None:
        """Nothing to release."""


class FakeOpenAIServer:
    """A local OpenAI-compatible HTTP server answering ``answer(prompt text)``; records bodies."""

    def __init__(self, answer: Callable[[str], str], model: str = "fake-model") -> None:
        self.answer = answer
        self.model = model
        self.bodies: list[dict] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _send(self, obj: dict) -> None:
                payload = json.dumps(obj).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_GET(self) -> None:  # noqa: N802
                self._send({"object": "list", "data": [{"id": owner.model, "object": "model"}]})

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(length))
                owner.bodies.append(body)
                if self.path.endswith("/chat/completions"):
                    text = owner.answer(body["messages"][-1]["content"])
                    choice = {"index": 0, "message": {"role": "assistant", "content": text}}
                else:
                    text = owner.answer(body["prompt"])
                    choice = {"index": 0, "text": text}
                self._send({"choices": [{**choice, "finish_reason": "stop"}]})

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def tagging_bodies(self) -> list[dict]:
        """Return the request bodies that asked for tags (not the reachability probe)."""
        return [b for b in self.bodies if "Steps to tag" in json.dumps(b)]

    def close(self) -> None:
        """Stop serving and free the port."""
        self.httpd.shutdown()
        self.httpd.server_close()
