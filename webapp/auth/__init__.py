"""Who is asking: users, passwords, API keys and the browser session."""
