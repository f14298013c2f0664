"""The chat wing: the prompt-toolkit loop, slash commands, the session and saved sessions.

It may import generation, the model and `charbot.system`; never training."""
