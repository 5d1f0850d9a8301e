"""Berry, the chat: conversations whose turns answer from the project's data or act through the
services."""
