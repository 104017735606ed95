"""The gateway: the HTTP API clients use, and the owner of users and their credentials."""
