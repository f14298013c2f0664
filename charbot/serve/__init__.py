"""`charbot serve`: an OpenAI-compatible HTTP server (`app`) over a scheduler of streams (`scheduler`), with
requests checked by the settings table's rules (`requests`). It never imports training or the chat."""
